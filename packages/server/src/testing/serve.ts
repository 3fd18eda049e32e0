/**
 * serve.ts runs one Baseplate plane with the probe module registered, as a child process of the
 * benchmark (and of any harness that needs a real server process):
 *
 *   node --import tsx packages/server/src/testing/serve.ts
 *
 * Configuration comes from the `BASEPLATE_*` environment variables (`loadConfig`). Once the
 * server listens it prints exactly one JSON line to stdout,
 * `{"ready":true,"url":"http://127.0.0.1:PORT","token":"bp_probe_…","pid":…,"engine":"sqlite"}`,
 * where `token` is a probe credential with every permission in environment `env_bench`. Logs go
 * to stdout too (JSON, at `BASEPLATE_LOG_LEVEL`), so readers pick the line with `"ready":true`.
 *
 * With `BENCH_PLANE=1` the shipped domain modules (`MODULES`) are registered besides the probe
 * module, and once listening the process seeds a plane through the services, the way `baseplate
 * init` and a product backend would: an admin operator, a project, an environment, a web surface
 * (scope ceiling `*`), a secret key (scopes `*`), one tenant, one user with a password (a fresh
 * random email per start) and one session of that user, the user as the tenant's owner, a tenant
 * key (`members:read`) and an agent key the user delegated (`members:*`). The ready line then also carries
 * `"plane":{…}` with their ids, tokens and the user's email and password (benchmark data only),
 * and `"passwords":{"profile":…,"concurrency":…}`. Passwords are hashed with the configured
 * profile (default `owasp`), exactly as in production. Without `BENCH_PLANE` nothing changes.
 *
 * SIGTERM or SIGINT stops the plane gracefully (requests and jobs drain) and exits 0; a second
 * signal exits at once. NOTE: the process also stops when its parent dies (polled every second),
 * so a killed benchmark never leaves a server behind.
 */
import { randomBytes } from "node:crypto";
import { type App, createApp, MODULES } from "../app.js";
import { loadConfig } from "../config.js";
import { accessModule } from "../modules/access/index.js";
import { identityModule } from "../modules/identity/index.js";
import { tenancyModule } from "../modules/tenancy/index.js";
import { newId } from "../platform/ids.js";
import { type ActionContext, systemContext } from "../platform/principal.js";
import { probeModule } from "./probe-module.js";

const config = loadConfig();
const benchPlane = process.env.BENCH_PLANE === "1";
const app = await createApp({
  config,
  modules: benchPlane ? [...MODULES, probeModule] : [probeModule],
});

let address: string | null;
try {
  address = await app.start();
} catch (err) {
  await app.stop().catch(() => undefined);
  throw err;
}

const probe = app.service(probeModule);
const token = probe.issueToken({
  actorType: "service",
  actorId: "svc_bench",
  credentialId: "cred_bench",
  environmentId: "env_bench",
  permissions: ["*"],
});

let plane: BenchPlane | null = null;
if (benchPlane) {
  try {
    plane = await seedBenchPlane(app);
  } catch (err) {
    await app.stop().catch(() => undefined);
    throw err;
  }
}

let stopping = false;
function shutdown(reason: string): void {
  if (stopping) {
    process.stderr.write(`serve: ${reason} again, exiting now\n`);
    process.exit(1);
  }
  stopping = true;
  const force = setTimeout(() => {
    process.stderr.write("serve: shutdown timed out, exiting\n");
    process.exit(1);
  }, config.shutdownTimeoutMs + 5000);
  force.unref();
  app.stop().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`serve: shutdown failed: ${String(err)}\n`);
      process.exit(1);
    },
  );
}

process.on("SIGTERM", () => shutdown("SIGTERM"));
process.on("SIGINT", () => shutdown("SIGINT"));
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) shutdown("parent exited");
}, 1000).unref();

process.stdout.write(
  `${JSON.stringify({
    ready: true,
    url: address,
    token,
    pid: process.pid,
    engine: config.database.engine,
    ...(plane ? { plane, passwords: config.passwords } : {}),
  })}\n`,
);

/** BenchPlane is what `BENCH_PLANE=1` seeds, printed in the ready line. */
interface BenchPlane {
  operatorId: string;
  /** operatorToken: the admin's `bp_ot_` API token. */
  operatorToken: string;
  projectId: string;
  environmentId: string;
  surfaceId: string;
  /** secretKey: a `bp_sk_` token with scopes `["*"]` on the surface. */
  secretKey: string;
  secretKeyId: string;
  tenantId: string;
  userId: string;
  userEmail: string;
  userPassword: string;
  /** sessionToken: a `bp_st_` session of the user, opened through the surface. */
  sessionToken: string;
  sessionId: string;
  /** membershipId: the user's membership (role `owner`) in the tenant. */
  membershipId: string;
  /** tenantKey: a `bp_tk_` key of the tenant with `members:read`. */
  tenantKey: string;
  /** agentKey: a `bp_ak_` key the user delegated in the tenant, scope `members:*`. */
  agentKey: string;
  /** accessToken: a JWT access token (one hour) of the user, from a session on a second surface that issues them. */
  accessToken: string;
}

/** seedBenchPlane seeds one plane through the services (see the file comment). */
async function seedBenchPlane(started: App): Promise<BenchPlane> {
  const identity = started.service(identityModule);
  const tenancy = started.service(tenancyModule);
  const password = `bench ${randomBytes(9).toString("base64url")} password`;
  const admin = await identity.operators.bootstrapOperator(systemContext(newId("request")), {
    email: "bench-admin@example.com",
    name: "Bench admin",
    role: "admin",
    password,
  });
  const operatorCtx: ActionContext = {
    principal: {
      actorType: "operator",
      actorId: admin.operator.id,
      credentialId: admin.id,
      permissions: ["*"],
    },
    request: { requestId: newId("request") },
  };
  const project = await tenancy.projects.createProject(operatorCtx, { name: "Bench project" });
  const env = await tenancy.projects.createEnvironment(operatorCtx, project.id, { name: "Bench" });
  const surface = await tenancy.surfaces.createSurface(operatorCtx, env.id, {
    name: "Bench portal",
    kind: "web",
    allowedOrigins: [],
    scopeCeiling: ["*"],
    selfSignup: false,
  });
  const key = await identity.secretKeys.createSecretKey(operatorCtx, env.id, {
    surfaceId: surface.id,
    name: "bench backend",
    scopes: ["*"],
  });
  // The product backend's own context: what the secret key resolves to.
  const backendCtx: ActionContext = {
    principal: {
      actorType: "service",
      actorId: key.id,
      credentialId: key.id,
      environmentId: env.id,
      surfaceId: surface.id,
      permissions: ["*"],
      ceiling: ["*"],
    },
    request: { requestId: newId("request") },
  };
  const tenant = await tenancy.tenants.createTenant(backendCtx, { name: "Bench tenant", externalId: "bench-1" });
  const email = `bench-${randomBytes(6).toString("hex")}@example.com`;
  const user = await identity.users.createUser(backendCtx, { email, name: "Bench user", password });
  const session = await identity.sessions.login(
    { principal: null, request: { requestId: newId("request"), ip: "127.0.0.1" } },
    { surfaceId: surface.id, email, password },
  );
  // Access tokens come from a surface of their own, so the seeded surface's logins stay as they were.
  const app = await tenancy.surfaces.createSurface(operatorCtx, env.id, {
    name: "Bench app",
    kind: "web",
    allowedOrigins: [],
    scopeCeiling: ["*"],
    selfSignup: false,
  });
  await identity.authSettings.update(backendCtx, app.id, {
    tokens: { accessTokens: true, accessTokenTtlSeconds: 3600 },
  });
  if ("mfaRequired" in session) throw new Error("The bench surface must not require MFA.");
  const access = started.service(accessModule);
  const membership = await access.memberships.addMember(backendCtx, tenant.id, { userId: user.id, roles: ["owner"] });
  const tenantKey = await access.tenantKeys.createTenantKey(backendCtx, tenant.id, {
    name: "bench partner",
    permissions: ["members:read"],
  });
  const agentKey = await access.agentKeys.createAgentKey(backendCtx, tenant.id, {
    name: "bench agent",
    scopes: ["members:*"],
    userId: user.id,
  });
  const withTokens = await identity.sessions.login(
    { principal: null, request: { requestId: newId("request"), ip: "127.0.0.1" } },
    { surfaceId: app.id, email, password },
  );
  if ("mfaRequired" in withTokens) throw new Error("The bench token surface must not require MFA.");
  return {
    accessToken: withTokens.accessToken as string,
    membershipId: membership.id,
    tenantKey: tenantKey.token,
    agentKey: agentKey.token,
    operatorId: admin.operator.id,
    operatorToken: admin.token,
    projectId: project.id,
    environmentId: env.id,
    surfaceId: surface.id,
    secretKey: key.token,
    secretKeyId: key.id,
    tenantId: tenant.id,
    userId: user.id,
    userEmail: email,
    userPassword: password,
    sessionToken: session.token,
    sessionId: session.session.id,
  };
}
