import { newEnforcer, newModelFromString } from "casbin";
import { type App, createApp } from "../../packages/server/src/app.js";
import { loadConfig } from "../../packages/server/src/config.js";
import { accessIds, accessModule, type BuiltInRole } from "../../packages/server/src/modules/access/index.js";
import { identityIds } from "../../packages/server/src/modules/identity/index.js";
import { tenancyIds } from "../../packages/server/src/modules/tenancy/index.js";
import { toJson } from "../../packages/server/src/platform/db/db.js";
import { createLogger } from "../../packages/server/src/platform/logger.js";
import type { ActionContext } from "../../packages/server/src/platform/principal.js";
import { tempDir } from "../lib/databases.js";
import { compare, type Measurement, row } from "../lib/results.js";
import type { BenchContext, Scenario } from "../lib/scenario.js";

/** CHECK_TARGET: Baseplate's in-process permission check does at least 20x casbin's checks per second. */
export const CHECK_TARGET = 20;
const USERS = 10_000;
const TENANTS = 1_000;
/** ROLES: 3 built-in roles + 47 custom ones over the product's own resources. */
const CUSTOM_ROLES = 47;
const RESOURCES = 30;
const ACTIONS = ["read", "write", "delete", "export"] as const;
const REQUESTS = 50_000;
const ROUNDS = 3;
/** EQUALITY_SAMPLE: requests both systems must answer the same before anything is measured. */
const EQUALITY_SAMPLE = 3_000;

/**
 * The equivalent casbin model: RBAC with domains (a user holds roles per tenant), role grants as
 * `p, role, resource, action` with `*` wildcards for either part, exactly Baseplate's patterns.
 */
const CASBIN_MODEL = `
[request_definition]
r = sub, dom, obj, act
[policy_definition]
p = sub, obj, act
[role_definition]
g = _, _, _
[policy_effect]
e = some(where (p.eft == allow))
[matchers]
m = g(r.sub, p.sub, r.dom) && (p.obj == "*" || p.obj == r.obj) && (p.act == "*" || p.act == r.act)
`;

/** A deterministic PRNG (mulberry32), so every run checks the same data. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Dataset {
  roles: Array<{ key: string; permissions: string[] }>;
  /** memberships: [userIndex, tenantIndex, roleKeys]. */
  memberships: Array<[number, number, string[]]>;
  /** requests: [userIndex, tenantIndex, permission]. */
  requests: Array<[number, number, string]>;
}

function dataset(builtInRoles: readonly BuiltInRole[]): Dataset {
  const random = rng(42);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T;
  const roles = builtInRoles.map((r) => ({ key: r.key, permissions: [...r.permissions] }));
  for (let i = 0; i < CUSTOM_ROLES; i++) {
    const permissions = new Set<string>();
    const n = 4 + Math.floor(random() * 10);
    while (permissions.size < n) {
      const resource = `res${Math.floor(random() * RESOURCES)}`;
      permissions.add(random() < 0.15 ? `${resource}:*` : `${resource}:${pick(ACTIONS)}`);
    }
    roles.push({ key: `role-${i}`, permissions: [...permissions].sort() });
  }
  const custom = roles.slice(3).map((r) => r.key);
  const memberships: Dataset["memberships"] = [];
  const tenantsOf: number[][] = [];
  for (let u = 0; u < USERS; u++) {
    const tenants = [u % TENANTS];
    if (random() < 0.3) tenants.push(Math.floor(random() * TENANTS));
    tenantsOf[u] = [...new Set(tenants)];
    for (const t of tenantsOf[u] as number[]) {
      const roleKeys = random() < 0.02 ? ["owner"] : random() < 0.05 ? ["admin"] : [pick(custom)];
      if (random() < 0.3) roleKeys.push(pick(custom));
      memberships.push([u, t, [...new Set(roleKeys)]]);
    }
  }
  const requests: Dataset["requests"] = [];
  for (let i = 0; i < REQUESTS; i++) {
    const u = Math.floor(random() * USERS);
    requests.push([u, pick(tenantsOf[u] as number[]), `res${Math.floor(random() * RESOURCES)}:${pick(ACTIONS)}`]);
  }
  return { roles, memberships, requests };
}

/**
 * permissionCheckScenario measures the in-process permission check every tenant-scoped request
 * makes — `Authorizer.check(principal, permission, tenant)` with the access module's lookups
 * (tenant state, the user's roles in the tenant) — against casbin's `enforceSync` with the
 * equivalent RBAC-with-domains model and the same data: 10k users, 1k tenants, 50 roles,
 * ~13k memberships. Both answer the same 50k requests (the first 3k checked equal first), in alternating
 * rounds, one check at a time; p99 is per check.
 */
export const permissionCheckScenario: Scenario = {
  id: "access-permission-check",
  title: "In-process permission check (10k users, 1k tenants, 50 roles): Baseplate vs casbin",
  async run(ctx: BenchContext) {
    const app = await startApp(ctx);
    const access = app.service(accessModule);
    const data = dataset(access.roles.builtInRoles());
    ctx.progress(`seeding ${data.memberships.length} memberships into Baseplate (SQLite) and casbin`);
    const ids = await seed(app, data);
    const enforcer = await newEnforcer(newModelFromString(CASBIN_MODEL));
    await enforcer.addPolicies(data.roles.flatMap((r) => r.permissions.map((p) => casbinRule(r.key, p))));
    await enforcer.addNamedGroupingPolicies(
      "g",
      data.memberships.flatMap(([u, t, roles]) =>
        roles.map((r) => [ids.users[u] as string, r, ids.tenants[t] as string]),
      ),
    );
    const contexts = ids.users.map(
      (userId): ActionContext => ({
        principal: {
          actorType: "user",
          actorId: userId,
          credentialId: userId,
          environmentId: ids.environmentId,
          permissions: [],
        },
        request: { requestId: "bench" },
      }),
    );
    const requests = data.requests.map(([u, t, permission]) => ({
      ctx: contexts[u] as ActionContext,
      user: ids.users[u] as string,
      tenantId: ids.tenants[t] as string,
      permission,
      resource: permission.slice(0, permission.indexOf(":")),
      action: permission.slice(permission.indexOf(":") + 1),
    }));

    ctx.progress("checking that both answer every request the same");
    let allowed = 0;
    for (const r of requests.slice(0, EQUALITY_SAMPLE)) {
      const ours = await access.core.m.access.check(r.ctx, r.permission, { tenantId: r.tenantId });
      const theirs = enforcer.enforceSync(r.user, r.tenantId, r.resource, r.action);
      if (ours !== theirs) throw new Error(`decisions differ for ${r.user} ${r.tenantId} ${r.permission}`);
      if (ours) allowed++;
    }

    const durationMs = ctx.options.timing.durationS * 1000;
    const ourRounds: Measurement[] = [];
    const theirRounds: Measurement[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      ctx.progress(`round ${round + 1}/${ROUNDS}`);
      ourRounds.push(
        await measure("Baseplate", durationMs, requests, (r) =>
          access.core.m.access.check(r.ctx, r.permission, { tenantId: r.tenantId }),
        ),
      );
      theirRounds.push(
        await measure("casbin", durationMs, requests, async (r) =>
          enforcer.enforceSync(r.user, r.tenantId, r.resource, r.action),
        ),
      );
    }
    await app.stop();
    const ours = median(ourRounds);
    const theirs = median(theirRounds);
    const baseline = row("casbin 5 enforceSync (RBAC with domains)", "baseline", theirs);
    const subject = row("Baseplate Authorizer.check", "subject", ours, [compare(ours, baseline, CHECK_TARGET)]);
    return {
      status: "measured" as const,
      rows: [baseline, subject],
      notes: [
        `${USERS} users, ${TENANTS} tenants, ${data.roles.length} roles (3 built-in, ${CUSTOM_ROLES} custom over ${RESOURCES} resources), ` +
          `${data.memberships.length} memberships; ${REQUESTS} requests cycled, ${((allowed / EQUALITY_SAMPLE) * 100).toFixed(0)}% allowed; ` +
          `identical decisions from both on the first ${EQUALITY_SAMPLE} checked before measuring.`,
        "Baseplate's check is the one every request makes: tenant state and the user's roles come from the caches " +
          "the change bus evicts (warm after the equality pass), the decision from a compiled permission set. " +
          "casbin evaluates its matcher per policy line (its stock Enforcer; no CachedEnforcer).",
        `Median of ${ROUNDS} alternating rounds of ${ctx.options.timing.durationS} s each, one check at a time in this process.`,
      ],
    };
  },
};

type Request = {
  ctx: ActionContext;
  user: string;
  tenantId: string;
  permission: string;
  resource: string;
  action: string;
};

async function measure(
  name: string,
  durationMs: number,
  requests: Request[],
  check: (r: Request) => Promise<boolean>,
): Promise<Measurement> {
  const latencies: number[] = [];
  const cpuStart = process.cpuUsage();
  const start = performance.now();
  let count = 0;
  let i = 0;
  while (performance.now() - start < durationMs) {
    for (let j = 0; j < 256; j++) {
      const r = requests[i++ % requests.length] as Request;
      const t0 = process.hrtime.bigint();
      await check(r);
      latencies.push(Number(process.hrtime.bigint() - t0));
      count++;
    }
  }
  const elapsedS = (performance.now() - start) / 1000;
  const cpu = process.cpuUsage(cpuStart);
  latencies.sort((a, b) => a - b);
  const at = (q: number) => (latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * q))] ?? 0) / 1e6;
  return {
    rate: count / elapsedS,
    unit: "ops/s",
    p50Ms: at(0.5),
    p99Ms: at(0.99),
    count,
    failures: 0,
    durationS: elapsedS,
    cpuUsPerOp: (cpu.user + cpu.system) / count,
    detail: `${name}: one check at a time, in process`,
  };
}

function median(rounds: Measurement[]): Measurement {
  const sorted = [...rounds].sort((a, b) => a.rate - b.rate);
  return sorted[Math.floor(sorted.length / 2)] as Measurement;
}

function casbinRule(role: string, permission: string): string[] {
  if (permission === "*") return [role, "*", "*"];
  const [resource, action] = permission.split(":") as [string, string];
  return [role, resource, action];
}

async function startApp(ctx: BenchContext): Promise<App> {
  const config = loadConfig({ BASEPLATE_DATA_DIR: tempDir(ctx.resources, "access"), BASEPLATE_WORKERS: "false" });
  const app = await createApp({ config, logger: createLogger("warn") });
  ctx.resources.defer("stop the in-process plane", () => app.stop().catch(() => undefined));
  await app.migrate();
  return app;
}

async function seed(app: App, data: Dataset) {
  const now = Date.now();
  const environmentId = tenancyIds.newId("environment", now);
  const projectId = tenancyIds.newId("project", now);
  const tenants = Array.from({ length: TENANTS }, () => tenancyIds.newId("tenant", now));
  const users = Array.from({ length: USERS }, () => identityIds.newId("user", now));
  await app.db.transaction(async (tx) => {
    const db = tx as unknown as import("kysely").Kysely<Record<string, Record<string, unknown>>>;
    await db
      .insertInto("project")
      .values({ id: projectId, name: "Bench", slug: "bench", archived_at: null, created_at: now, updated_at: now })
      .execute();
    await db
      .insertInto("environment")
      .values({
        id: environmentId,
        project_id: projectId,
        name: "Bench",
        slug: "bench",
        archived_at: null,
        created_at: now,
        updated_at: now,
      })
      .execute();
    for (let i = 0; i < tenants.length; i += 200) {
      await db
        .insertInto("tenant")
        .values(
          tenants.slice(i, i + 200).map((id, j) => ({
            id,
            environment_id: environmentId,
            name: `Tenant ${i + j}`,
            slug: `tenant-${i + j}`,
            external_id: null,
            metadata: toJson({}),
            state: "active",
            state_reason: null,
            state_category: null,
            state_changed_by: null,
            state_changed_at: now,
            created_at: now,
            updated_at: now,
          })),
        )
        .execute();
    }
    await db
      .insertInto("role")
      .values(
        data.roles.slice(3).map((r) => ({
          id: accessIds.newId("role", now),
          environment_id: environmentId,
          key: r.key,
          name: r.key,
          description: null,
          permissions: toJson(r.permissions),
          created_at: now,
          updated_at: now,
        })),
      )
      .execute();
    for (let i = 0; i < data.memberships.length; i += 200) {
      await db
        .insertInto("membership")
        .values(
          data.memberships.slice(i, i + 200).map(([u, t, roles]) => ({
            id: accessIds.newId("membership", now),
            environment_id: environmentId,
            tenant_id: tenants[t],
            user_id: users[u],
            roles: toJson(roles),
            created_by: null,
            created_at: now,
            updated_at: now,
          })),
        )
        .execute();
    }
  });
  return { environmentId, tenants, users };
}
