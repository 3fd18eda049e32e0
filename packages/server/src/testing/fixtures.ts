import type { IdentityService } from "../modules/identity/index.js";
import { identityModule } from "../modules/identity/index.js";
import type { TenancyService } from "../modules/tenancy/index.js";
import { tenancyModule } from "../modules/tenancy/index.js";
import { newId } from "../platform/ids.js";
import { type ActionContext, systemContext } from "../platform/principal.js";
import type { TestApp } from "./harness.js";

export const TEST_PASSWORD = "correct horse battery staple";

export interface PlaneEnvironment {
  id: string;
  surfaceId: string;
  /** secretKey: a `bp_sk_` token with scopes ["*"]. */
  secretKey: string;
  secretKeyId: string;
}

export interface SeededPlane {
  operatorId: string;
  /** operatorToken: an admin's `bp_ot_` API token. */
  operatorToken: string;
  supportToken: string;
  projectId: string;
  /** Two environments of one project: `a` and `b`; isolation tests use one against the other. */
  a: PlaneEnvironment;
  b: PlaneEnvironment;
  operatorCtx: ActionContext;
  identity: IdentityService;
  tenancy: TenancyService;
}

/**
 * seedPlane initialises a test plane the way `baseplate init` does: an admin operator (plus a
 * support operator), one project, two environments each with an `api` surface (self sign-up on)
 * and a secret key. Needs an app created with the plane's modules (`createTestApp(engine, { plane: true })`).
 */
export async function seedPlane(t: TestApp): Promise<SeededPlane> {
  const identity = t.app.service(identityModule);
  const tenancy = t.app.service(tenancyModule);
  const admin = await identity.operators.bootstrapOperator(systemContext(newId("request")), {
    email: "admin@example.com",
    name: "Admin",
    role: "admin",
    password: TEST_PASSWORD,
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
  const support = await identity.operators.createOperator(operatorCtx, {
    email: "support@example.com",
    name: "Support",
    role: "support",
    password: TEST_PASSWORD,
  });
  const supportLogin = await identity.operators.loginOperator(
    { principal: null, request: { requestId: newId("request"), ip: "10.0.0.1" } },
    support.email,
    TEST_PASSWORD,
  );
  const project = await tenancy.projects.createProject(operatorCtx, { name: "Test project" });
  const envs: PlaneEnvironment[] = [];
  for (const name of ["Env A", "Env B"]) {
    const env = await tenancy.projects.createEnvironment(operatorCtx, project.id, { name });
    const surface = await tenancy.surfaces.createSurface(operatorCtx, env.id, {
      name: "Portal",
      kind: "web",
      allowedOrigins: [],
      scopeCeiling: ["*"],
      selfSignup: true,
    });
    const key = await identity.secretKeys.createSecretKey(operatorCtx, env.id, {
      surfaceId: surface.id,
      name: "backend",
      scopes: ["*"],
    });
    envs.push({ id: env.id, surfaceId: surface.id, secretKey: key.token, secretKeyId: key.id });
  }
  return {
    operatorId: admin.operator.id,
    operatorToken: admin.token,
    supportToken: supportLogin.token,
    projectId: project.id,
    a: envs[0] as PlaneEnvironment,
    b: envs[1] as PlaneEnvironment,
    operatorCtx,
    identity,
    tenancy,
  };
}
