import { describe, expect, it } from "vitest";
import { Authorizer, type Denial, refusalOf } from "./access.js";
import { AppError, PlatformErrors } from "./errors.js";
import { PermissionSet } from "./permissions.js";
import type { ActionContext, Principal } from "./principal.js";

// The one guard seam, table-driven: which callers each guard admits, the refusal it decides, and
// the problem a refusal becomes. Tenant state and memberships come from the hooks plugged in.

const operator: Principal = { actorType: "operator", actorId: "op_1", credentialId: "opt_1", permissions: ["*"] };
const secretKey: Principal = {
  actorType: "service",
  actorId: "key_1",
  credentialId: "key_1",
  environmentId: "env_a",
  permissions: ["tenants:read", "webhooks:*"],
};
const tenantKey: Principal = {
  actorType: "tenant_key",
  actorId: "tk_1",
  credentialId: "tk_1",
  environmentId: "env_a",
  tenantId: "ten_a",
  permissions: ["webhooks:*"],
};
const user: Principal = {
  actorType: "user",
  actorId: "usr_1",
  credentialId: "ses_1",
  environmentId: "env_a",
  permissions: [],
};

function ctx(principal: Principal | null): ActionContext {
  return { principal, request: { requestId: "req_1" } };
}

function authorizer(): Authorizer {
  const a = new Authorizer();
  a.use({
    tenantState: async (_env, tenantId) => (tenantId === "ten_gone" ? null : { status: "active" }),
    memberPermissions: async (_env, _user, tenantId) =>
      tenantId === "ten_a" ? new PermissionSet(["tenants:read", "webhooks:read"]) : null,
  });
  return a;
}

async function problem(run: () => unknown): Promise<[number, string]> {
  try {
    await run();
  } catch (err) {
    if (err instanceof AppError) return [err.status, err.message];
    throw err;
  }
  throw new Error("expected a refusal");
}

describe("Authorizer", () => {
  const a = authorizer();

  it.each([
    [operator, "projects:write", operator],
    [secretKey, "projects:write", "not_operator"],
    [null, "projects:write", "not_operator"],
    [{ ...operator, permissions: ["projects:read"] }, "projects:write", "missing_permission"],
  ] as const)("decideOperator(%j, %s) → %j", (principal, permission, expected) => {
    expect(a.decideOperator(principal, permission)).toEqual(expected);
  });

  it.each([
    [secretKey, "tenants:read", { principal: secretKey, environmentId: "env_a" }],
    [secretKey, "tenants:write", "missing_permission"],
    [operator, "tenants:read", "no_environment_credential"],
    [null, "tenants:read", "no_environment_credential"],
  ] as const)("decideEnvironment(%j, %s) → %j", (principal, permission, expected) => {
    expect(a.decideEnvironment(principal, permission)).toEqual(expected);
  });

  it("answers each refusal with today's problem", async () => {
    expect(await problem(() => a.operator(ctx(secretKey), "projects:read"))).toEqual([
      403,
      "Only plane operators may do this.",
    ]);
    expect(await problem(() => a.environment(ctx(operator), "tenants:read"))).toEqual([
      403,
      "This route needs an environment credential (a secret key, or an operator naming the environment with the `Baseplate-Environment` header).",
    ]);
    expect(await problem(() => a.require(ctx(operator), "tenants:read"))).toEqual([
      403,
      "This route needs an environment credential (operators name the environment they act in with the `Baseplate-Environment` header).",
    ]);
    expect(await problem(() => a.environment(ctx(secretKey), "users:read"))).toEqual([
      PlatformErrors.forbidden.status,
      'This credential lacks the permission "users:read".',
    ]);
    expect(await problem(() => a.require(ctx(user), "tenants:read", { field: "query.tenantId" }))).toEqual([
      400,
      "query.tenantId: is required for a user session: a user acts within a tenant",
    ]);
    expect(await problem(() => a.require(ctx(tenantKey), "webhooks:read", { tenantId: "ten_b" }))).toEqual([
      404,
      "No such tenant in this environment.",
    ]);
  });

  it("requireOn hides environment-wide and other tenants' objects from tenant-bound callers", async () => {
    const notFound = () => new AppError(PlatformErrors.not_found, "No such endpoint.");
    expect(await problem(() => a.requireOn(ctx(tenantKey), "webhooks:read", null, notFound))).toEqual([
      404,
      "No such endpoint.",
    ]);
    expect(await problem(() => a.requireOn(ctx(user), "webhooks:read", null, notFound))).toEqual([
      404,
      "No such endpoint.",
    ]);
    expect(await problem(() => a.requireOn(ctx(user), "webhooks:read", "ten_b", notFound))).toEqual([
      404,
      "No such endpoint.",
    ]);
    expect(await problem(() => a.requireOn(ctx(user), "webhooks:write", "ten_a", notFound))).toEqual([
      403,
      'This credential lacks the permission "webhooks:write".',
    ]);
    expect(await a.requireOn(ctx(secretKey), "webhooks:read", null, notFound)).toEqual({
      principal: secretKey,
      environmentId: "env_a",
      tenantId: null,
    });
    expect(await a.requireOn(ctx(tenantKey), "webhooks:read", "ten_a", notFound)).toMatchObject({ tenantId: "ten_a" });
  });

  it("marks each refusal with its reason and hands agents' and tenant keys' refusals to the denied hook", async () => {
    const a = authorizer();
    const seen: Array<[string, Denial]> = [];
    a.use({
      tenantState: async (_env, tenantId) =>
        tenantId === "ten_s" ? { status: "suspended", suspendedFor: "other" } : { status: "active" },
      denied: async (c, denial) => void seen.push([c.principal?.actorId ?? "", denial]),
    });
    const reasonOf = async (run: () => Promise<unknown>) => {
      const err = await run().then(
        () => null,
        (e: unknown) => e,
      );
      return [refusalOf(err)?.reason, await a.recordDenial(ctx(null), err, "GET /x")] as const;
    };
    const ceilinged: Principal = { ...tenantKey, permissions: ["*"], ceiling: ["webhooks:read"] };
    const suspended: Principal = { ...tenantKey, tenantId: "ten_s" };
    expect(await reasonOf(() => a.require(ctx(tenantKey), "tenants:write"))).toEqual(["missing_permission", null]);
    expect(await reasonOf(() => a.require(ctx(ceilinged), "webhooks:write"))).toEqual(["outside_ceiling", null]);
    expect(await reasonOf(() => a.require(ctx(tenantKey), "webhooks:read", { tenantId: "ten_b" }))).toEqual([
      "other_tenant",
      null,
    ]);
    expect(await reasonOf(() => a.require(ctx(suspended), "webhooks:write"))).toEqual(["tenant_suspended", null]);
    expect(await reasonOf(() => a.requireOn(ctx(tenantKey), "webhooks:read", "ten_b", notFoundError))).toEqual([
      "other_tenant",
      null,
    ]);
    expect(refusalOf(new AppError(PlatformErrors.not_found))).toBeUndefined();

    const err = await a.require(ctx(tenantKey), "webhooks:read", { tenantId: "ten_b" }).catch((e: unknown) => e);
    await a.recordDenial(ctx(tenantKey), err, "GET /v1/tenants/:tenantId/webhooks");
    await a.recordDenial(ctx(secretKey), err, "GET /v1/tenants/:tenantId/webhooks"); // not recorded: a secret key
    await a.recordDenial(ctx(tenantKey), new Error("boom"), "GET /x"); // not a refusal
    expect(seen).toEqual([
      [
        "tk_1",
        {
          action: "webhooks:read",
          permission: "webhooks:read",
          route: "GET /v1/tenants/:tenantId/webhooks",
          reason: "other_tenant",
          requestedTenantId: "ten_b",
          status: 404,
        },
      ],
    ]);
  });
});

function notFoundError(): AppError {
  return new AppError(PlatformErrors.not_found, "No such object.");
}
