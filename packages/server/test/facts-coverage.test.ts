import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { auditModule } from "../src/modules/audit/index.js";
import { fromJson } from "../src/platform/db/db.js";
import type { RouteDefinition } from "../src/platform/http/route.js";
import { TEST_PASSWORD } from "../src/testing/fixtures.js";
import { describeEachEngine } from "../src/testing/harness.js";
import {
  type CallResult,
  type Credential,
  createIsolationWorld,
  type EnvActors,
  type EnvUser,
  expectStatus,
  fillUrl,
  type IsolationWorld,
  isMutating,
  loadRouteTable,
  OPERATOR_PARAM_FIXTURES,
  PARAM_FIXTURES,
  routeKey,
} from "../src/testing/isolation.js";

// DESIGN.md §2, the write path: every mutation records its fact (→ audit entry + event) in its own
// transaction. This sweep makes one successful call to every mutating route of the plane and
// checks the facts it committed: `noun.past_verb` types, the acting credential's actor, the right
// environment, and no token or password anywhere in a fact; and that each fact became exactly one
// audit entry with the same action, actor, tenant and targets (so every module inherits the audit
// coverage). A new mutating route fails here until it has a fixture below.

/** AuditEntryRow: what the sweep reads of an audit entry. */
interface AuditEntryRow {
  id: string;
  fact_id: string | null;
  action: string;
  actor_id: string | null;
  environment_id: string | null;
  tenant_id: string | null;
  targets: Array<{ type: string; id: string }>;
}

/** FactExpectation: the facts one successful call must commit, in order. */
interface FactExpectation {
  types: string[];
  /** productEntries: audit entries the call writes itself (a product's own entries: no fact). */
  productEntries?: string[];
  /** actorId defaults to the calling credential's actor. */
  actorId?: string;
  environmentId: string | null;
}

interface FactScenario {
  caller: Credential | null;
  ids?: Record<string, string>;
  body?: unknown;
  /** expect is given the response body (ids of what the call created). */
  expect(response: Record<string, unknown>): FactExpectation;
}

type FactFixture = (w: IsolationWorld) => Promise<FactScenario>;

const fixture = (key: string) => {
  const f = OPERATOR_PARAM_FIXTURES[key];
  if (!f) throw new Error(`no operator fixture ${key}`);
  return f;
};
const paramFixture = (key: string) => {
  const f = PARAM_FIXTURES[key];
  if (!f) throw new Error(`no param fixture ${key}`);
  return f;
};

async function json(res: CallResult, status: number, what: string): Promise<Record<string, unknown>> {
  expectStatus(res, status, what);
  return res.json() as Record<string, unknown>;
}

/** scratch makes a project, an environment and a surface the call may archive. */
async function scratch(w: IsolationWorld): Promise<{ projectId: string; environmentId: string; surfaceId: string }> {
  const project = await json(
    await w.call(w.admin, "POST", "/v1/projects", { body: { name: `Facts ${w.unique()}` } }),
    201,
    "scratch project",
  );
  const env = await json(
    await w.call(w.admin, "POST", `/v1/projects/${project.id}/environments`, { body: { name: "Scratch" } }),
    201,
    "scratch environment",
  );
  const surface = await json(
    await w.call(w.admin, "POST", `/v1/environments/${env.id}/surfaces`, { body: { name: "Scratch", kind: "web" } }),
    201,
    "scratch surface",
  );
  return { projectId: project.id as string, environmentId: env.id as string, surfaceId: surface.id as string };
}

async function secretKeyIn(w: IsolationWorld, env: EnvActors): Promise<string> {
  const body = await json(
    await w.call(w.admin, "POST", `/v1/environments/${env.environmentId}/secret-keys`, {
      body: { surfaceId: env.surfaceId, name: `facts ${w.unique()}` },
    }),
    201,
    "secret key",
  );
  return (body.secretKey as { id: string }).id;
}

/** secondSession logs a user in once more (another live session of the same user). */
async function secondSession(w: IsolationWorld, env: EnvActors, user: EnvUser): Promise<string> {
  const body = await json(
    await w.call(null, "POST", "/v1/auth/login", {
      body: { surfaceId: env.surfaceId, email: user.email, password: TEST_PASSWORD },
    }),
    201,
    "second login",
  );
  return (body.session as { id: string }).id;
}

/** FACT_FIXTURES: one successful call per mutating route, and the facts it must commit. Add yours here. */
const FACT_FIXTURES: Record<string, FactFixture> = {
  // Projects, environments, surfaces (admin operator)
  "POST /v1/projects": async (w) => ({
    caller: w.admin,
    body: { name: `Facts ${w.unique()}` },
    expect: () => ({ types: ["project.created"], environmentId: null }),
  }),
  "PATCH /v1/projects/:projectId": async (w) => ({
    caller: w.admin,
    ids: { projectId: await fixture("projectId")(w) },
    body: { name: "Renamed" },
    expect: () => ({ types: ["project.updated"], environmentId: null }),
  }),
  "POST /v1/projects/:projectId/archive": async (w) => ({
    caller: w.admin,
    ids: { projectId: await fixture("projectId")(w) },
    expect: () => ({ types: ["project.archived"], environmentId: null }),
  }),
  "POST /v1/projects/:projectId/environments": async (w) => ({
    caller: w.admin,
    ids: { projectId: await fixture("projectId")(w) },
    body: { name: "Production" },
    expect: (env) => ({ types: ["environment.created"], environmentId: env.id as string }),
  }),
  "PATCH /v1/environments/:environmentId": async (w) => {
    const { environmentId } = await scratch(w);
    return {
      caller: w.admin,
      ids: { environmentId },
      body: { name: "Renamed" },
      expect: () => ({ types: ["environment.updated"], environmentId }),
    };
  },
  "POST /v1/environments/:environmentId/archive": async (w) => {
    const { environmentId } = await scratch(w);
    return {
      caller: w.admin,
      ids: { environmentId },
      expect: () => ({ types: ["environment.archived"], environmentId }),
    };
  },
  "POST /v1/environments/:environmentId/surfaces": async (w) => {
    const { environmentId } = await scratch(w);
    return {
      caller: w.admin,
      ids: { environmentId },
      body: { name: "Agent", kind: "agent", scopeCeiling: ["tenants:read"] },
      expect: () => ({ types: ["surface.created"], environmentId }),
    };
  },
  "PATCH /v1/surfaces/:surfaceId": async (w) => {
    const { environmentId, surfaceId } = await scratch(w);
    return {
      caller: w.admin,
      ids: { surfaceId },
      body: { allowedOrigins: ["https://app.example.com"], selfSignup: true },
      expect: () => ({ types: ["surface.updated"], environmentId }),
    };
  },
  "POST /v1/surfaces/:surfaceId/archive": async (w) => {
    const { environmentId, surfaceId } = await scratch(w);
    return {
      caller: w.admin,
      ids: { surfaceId },
      expect: () => ({ types: ["surface.archived"], environmentId }),
    };
  },

  // Tenants (secret key)
  "POST /v1/tenants": async (w) => ({
    caller: w.a.key,
    body: { name: `Facts ${w.unique()}`, externalId: `cus_${w.unique()}`, metadata: { plan: "gold" } },
    expect: () => ({ types: ["tenant.created"], environmentId: w.a.environmentId }),
  }),
  "PATCH /v1/tenants/:tenantId": async (w) => ({
    caller: w.a.key,
    ids: { tenantId: (await paramFixture("tenantId")(w, w.a, {})).id },
    body: { name: "Renamed", metadata: { plan: "platinum" } },
    expect: () => ({ types: ["tenant.updated"], environmentId: w.a.environmentId }),
  }),

  // Operators
  "POST /v1/operator/login": async (w) => ({
    caller: null,
    body: { email: "support@example.com", password: TEST_PASSWORD },
    expect: () => ({ types: ["operator.logged_in"], actorId: w.support.actorId, environmentId: null }),
  }),
  "POST /v1/operator/tokens": async (w) => ({
    caller: w.admin,
    body: { name: "ci", expiresAt: Date.now() + 86_400_000 },
    expect: () => ({ types: ["operator_token.created"], environmentId: null }),
  }),
  "POST /v1/operator/tokens/:tokenId/revoke": async (w) => ({
    caller: w.admin,
    ids: { tokenId: await fixture("tokenId")(w) },
    expect: () => ({ types: ["operator_token.revoked"], environmentId: null }),
  }),
  "POST /v1/operators": async (w) => ({
    caller: w.admin,
    body: {
      email: `facts-${w.unique()}@example.com`,
      name: "New",
      role: "support",
      password: "a long enough passphrase",
    },
    expect: () => ({ types: ["operator.created"], environmentId: null }),
  }),
  "PATCH /v1/operators/:operatorId": async (w) => ({
    caller: w.admin,
    ids: { operatorId: await fixture("operatorId")(w) },
    body: { name: "Renamed" },
    expect: () => ({ types: ["operator.updated"], environmentId: null }),
  }),

  // Secret keys (admin operator)
  "POST /v1/environments/:environmentId/secret-keys": async (w) => ({
    caller: w.admin,
    ids: { environmentId: w.a.environmentId },
    body: { surfaceId: w.a.surfaceId, name: "facts", scopes: ["tenants:read"] },
    expect: () => ({ types: ["secret_key.created"], environmentId: w.a.environmentId }),
  }),
  "POST /v1/secret-keys/:keyId/revoke": async (w) => ({
    caller: w.admin,
    ids: { keyId: await secretKeyIn(w, w.a) },
    expect: () => ({ types: ["secret_key.revoked"], environmentId: w.a.environmentId }),
  }),
  "POST /v1/secret-keys/:keyId/rotate": async (w) => ({
    caller: w.admin,
    ids: { keyId: await secretKeyIn(w, w.a) },
    body: { gracePeriodSeconds: 60 },
    expect: () => ({ types: ["secret_key.rotated"], environmentId: w.a.environmentId }),
  }),

  // Users (secret key)
  "POST /v1/users": async (w) => ({
    caller: w.a.key,
    body: { email: `facts-${w.unique()}@example.com`, name: "New", password: "a long enough passphrase" },
    expect: () => ({ types: ["user.created"], environmentId: w.a.environmentId }),
  }),
  "PATCH /v1/users/:userId": async (w) => ({
    caller: w.a.key,
    ids: { userId: (await paramFixture("userId")(w, w.a, {})).id },
    body: { name: "Renamed", profile: { locale: "fr" } },
    expect: () => ({ types: ["user.updated"], environmentId: w.a.environmentId }),
  }),
  "POST /v1/users/:userId/password-reset-tokens": async (w) => ({
    caller: w.a.key,
    ids: { userId: (await paramFixture("userId")(w, w.a, {})).id },
    expect: () => ({ types: ["user.password_reset_requested"], environmentId: w.a.environmentId }),
  }),
  "POST /v1/users/:userId/sessions/revoke": async (w) => ({
    caller: w.a.key,
    // The fixture user has a live session.
    ids: { userId: (await paramFixture("userId")(w, w.a, {})).id },
    expect: () => ({ types: ["session.revoked_all"], environmentId: w.a.environmentId }),
  }),

  // End-user auth
  "POST /v1/auth/signup": async (w) => ({
    caller: null,
    body: { surfaceId: w.a.surfaceId, email: `signup-${w.unique()}@example.com`, password: "a long enough passphrase" },
    expect: (issued) => ({
      types: ["user.signed_up", "user.logged_in"],
      actorId: (issued.user as { id: string }).id,
      environmentId: w.a.environmentId,
    }),
  }),
  "POST /v1/auth/login": async (w) => {
    const user = await w.newUser(w.a, "login");
    return {
      caller: null,
      body: { surfaceId: w.a.surfaceId, email: user.email, password: TEST_PASSWORD },
      expect: () => ({ types: ["user.logged_in"], actorId: user.actorId, environmentId: w.a.environmentId }),
    };
  },
  "POST /v1/auth/password-reset": async (w) => {
    const user = await w.newUser(w.a, "reset");
    const reset = await json(
      await w.call(w.a.key, "POST", `/v1/users/${user.actorId}/password-reset-tokens`),
      201,
      "reset token",
    );
    return {
      caller: null,
      body: { surfaceId: w.a.surfaceId, token: reset.token, newPassword: "a brand new passphrase" },
      expect: () => ({
        types: ["user.password_reset", "session.revoked_all"],
        actorId: user.actorId,
        environmentId: w.a.environmentId,
      }),
    };
  },
  "POST /v1/auth/logout": async (w) => ({
    caller: await w.newUser(w.a, "logout"),
    expect: () => ({ types: ["user.logged_out"], environmentId: w.a.environmentId }),
  }),
  "POST /v1/auth/sessions/:sessionId/revoke": async (w) => {
    const user = await w.newUser(w.a, "revoke-one");
    return {
      caller: user,
      ids: { sessionId: await secondSession(w, w.a, user) },
      expect: () => ({ types: ["session.revoked"], environmentId: w.a.environmentId }),
    };
  },
  "POST /v1/auth/sessions/revoke-others": async (w) => {
    const user = await w.newUser(w.a, "revoke-others");
    await secondSession(w, w.a, user);
    return {
      caller: user,
      expect: () => ({ types: ["session.revoked_others"], environmentId: w.a.environmentId }),
    };
  },
  "POST /v1/auth/sessions/revoke-all": async (w) => ({
    caller: await w.newUser(w.a, "revoke-all"),
    expect: () => ({ types: ["session.revoked_all"], environmentId: w.a.environmentId }),
  }),
  // Audit (secret key; the rotation: admin operator)
  "POST /v1/audit/entries": async (w) => ({
    caller: w.a.key,
    body: { action: "report.exported", targets: [{ type: "report", id: "rep_1" }], metadata: { rows: 3 } },
    expect: () => ({ types: [], productEntries: ["report.exported"], environmentId: w.a.environmentId }),
  }),
  "POST /v1/tenants/:tenantId/audit/entries": async (w) => ({
    caller: w.a.key,
    ids: { tenantId: (await paramFixture("tenantId")(w, w.a, {})).id },
    body: { action: "invoice.paid", targets: [{ type: "invoice", id: "inv_1" }] },
    expect: () => ({ types: [], productEntries: ["invoice.paid"], environmentId: w.a.environmentId }),
  }),
  "POST /v1/audit/checkpoints": async (w) => ({
    caller: w.a.key,
    body: { tenantId: (await paramFixture("tenantId")(w, w.a, {})).id },
    expect: () => ({ types: ["audit_checkpoint.created"], environmentId: w.a.environmentId }),
  }),
  "POST /v1/audit/schemas": async (w) => ({
    caller: w.a.key,
    body: { action: `facts_${w.unique()}.recorded`, schema: { type: "object", required: ["id"] } },
    expect: () => ({ types: ["audit_schema.created"], environmentId: w.a.environmentId }),
  }),
  "DELETE /v1/audit/schemas/:auditSchemaId": async (w) => ({
    caller: w.a.key,
    ids: { auditSchemaId: (await paramFixture("auditSchemaId")(w, w.a, {})).id },
    expect: () => ({ types: ["audit_schema.deleted"], environmentId: w.a.environmentId }),
  }),
  "PATCH /v1/audit/settings": async (w) => ({
    caller: w.a.key,
    body: { retentionDays: 365 },
    expect: () => ({ types: ["audit_settings.updated"], environmentId: w.a.environmentId }),
  }),
  "POST /v1/operator/audit/signing-keys/rotate": async (w) => ({
    caller: w.admin,
    expect: () => ({ types: ["audit_signing_key.rotated"], environmentId: null }),
  }),

  "POST /v1/auth/password": async (w) => {
    const user = await w.newUser(w.a, "change-password");
    await secondSession(w, w.a, user);
    return {
      caller: user,
      body: { currentPassword: TEST_PASSWORD, newPassword: "a brand new passphrase", revokeOtherSessions: true },
      expect: () => ({
        types: ["user.password_changed", "session.revoked_others"],
        environmentId: w.a.environmentId,
      }),
    };
  },

  // Tenant lifecycle (secret key)
  "POST /v1/tenants/:tenantId/suspend": async (w) => ({
    caller: w.a.key,
    ids: { tenantId: (await paramFixture("tenantId")(w, w.a, {})).id },
    body: { reason: "fraud review", category: "other" },
    expect: () => ({ types: ["tenant.suspended"], environmentId: w.a.environmentId }),
  }),
  "POST /v1/tenants/:tenantId/reactivate": async (w) => {
    const tenantId = (await paramFixture("tenantId")(w, w.a, {})).id;
    await json(
      await w.call(w.a.key, "POST", `/v1/tenants/${tenantId}/suspend`, { body: { reason: "x" } }),
      200,
      "suspend",
    );
    return {
      caller: w.a.key,
      ids: { tenantId },
      body: { reason: "cleared" },
      expect: () => ({ types: ["tenant.reactivated"], environmentId: w.a.environmentId }),
    };
  },
  "POST /v1/tenants/:tenantId/deactivate": async (w) => ({
    caller: w.a.key,
    ids: { tenantId: (await paramFixture("tenantId")(w, w.a, {})).id },
    body: { reason: "churned" },
    expect: () => ({ types: ["tenant.deactivated"], environmentId: w.a.environmentId }),
  }),

  // Roles (secret key)
  "POST /v1/roles": async (w) => ({
    caller: w.a.key,
    body: { key: `r${w.unique()}`, name: "Auditor", permissions: ["audit:read"] },
    expect: () => ({ types: ["role.created"], environmentId: w.a.environmentId }),
  }),
  "PATCH /v1/roles/:roleKey": async (w) => ({
    caller: w.a.key,
    ids: { roleKey: (await paramFixture("roleKey")(w, w.a, {})).id },
    body: { permissions: ["audit:*"] },
    expect: () => ({ types: ["role.updated"], environmentId: w.a.environmentId }),
  }),
  "DELETE /v1/roles/:roleKey": async (w) => ({
    caller: w.a.key,
    ids: { roleKey: (await paramFixture("roleKey")(w, w.a, {})).id },
    expect: () => ({ types: ["role.deleted"], environmentId: w.a.environmentId }),
  }),

  // Memberships and invitations: the home tenant's owner, tenant key and agent act.
  "POST /v1/tenants/:tenantId/members": async (w) => ({
    caller: w.a.user,
    ids: { tenantId: w.a.tenantId },
    body: { userId: (await paramFixture("userId")(w, w.a, {})).id, roles: ["member"] },
    expect: () => ({ types: ["membership.created"], environmentId: w.a.environmentId }),
  }),
  "PATCH /v1/tenants/:tenantId/members/:membershipId": async (w) => ({
    caller: w.a.tenantKey,
    ids: {
      tenantId: w.a.tenantId,
      membershipId: (await paramFixture("membershipId")(w, w.a, { tenantId: { id: w.a.tenantId, owner: w.a.key } })).id,
    },
    body: { roles: ["admin"] },
    expect: () => ({ types: ["membership.updated"], environmentId: w.a.environmentId }),
  }),
  "DELETE /v1/tenants/:tenantId/members/:membershipId": async (w) => ({
    caller: w.a.agent,
    ids: {
      tenantId: w.a.tenantId,
      membershipId: (await paramFixture("membershipId")(w, w.a, { tenantId: { id: w.a.tenantId, owner: w.a.key } })).id,
    },
    expect: () => ({ types: ["membership.deleted"], environmentId: w.a.environmentId }),
  }),
  "POST /v1/tenants/:tenantId/invitations": async (w) => ({
    caller: w.a.agent,
    ids: { tenantId: w.a.tenantId },
    body: { email: `facts-${w.unique()}@example.com`, roles: ["member"] },
    expect: () => ({ types: ["invitation.created"], environmentId: w.a.environmentId }),
  }),
  "POST /v1/tenants/:tenantId/invitations/:invitationId/revoke": async (w) => ({
    caller: w.a.user,
    ids: {
      tenantId: w.a.tenantId,
      invitationId: (await paramFixture("invitationId")(w, w.a, { tenantId: { id: w.a.tenantId, owner: w.a.key } })).id,
    },
    expect: () => ({ types: ["invitation.revoked"], environmentId: w.a.environmentId }),
  }),
  "POST /v1/invitations/accept": async (w) => {
    const email = `accept-${w.unique()}@example.com`;
    const invited = await json(
      await w.call(w.a.key, "POST", `/v1/tenants/${w.a.tenantId}/invitations`, { body: { email, roles: ["member"] } }),
      201,
      "invitation",
    );
    return {
      caller: null,
      body: { token: invited.token, password: "a long and fine passphrase" },
      expect: (res) => ({
        types: ["user.signed_up", "invitation.accepted", "membership.created"],
        actorId: (res.membership as { userId: string }).userId,
        environmentId: w.a.environmentId,
      }),
    };
  },

  // Tenant keys and agent keys
  "POST /v1/tenants/:tenantId/keys": async (w) => ({
    caller: w.a.tenantKey,
    ids: { tenantId: w.a.tenantId },
    body: { name: "partner", permissions: ["members:read"] },
    expect: () => ({ types: ["tenant_key.created"], environmentId: w.a.environmentId }),
  }),
  "POST /v1/tenants/:tenantId/keys/:keyId/revoke": async (w) => ({
    caller: w.a.user,
    ids: {
      tenantId: w.a.tenantId,
      keyId: (await paramFixture("keyId")(w, w.a, { tenantId: { id: w.a.tenantId, owner: w.a.key } })).id,
    },
    expect: () => ({ types: ["tenant_key.revoked"], environmentId: w.a.environmentId }),
  }),
  "POST /v1/tenants/:tenantId/keys/:keyId/rotate": async (w) => ({
    caller: w.a.key,
    ids: {
      tenantId: w.a.tenantId,
      keyId: (await paramFixture("keyId")(w, w.a, { tenantId: { id: w.a.tenantId, owner: w.a.key } })).id,
    },
    body: { gracePeriodSeconds: 60 },
    expect: () => ({ types: ["tenant_key.rotated"], environmentId: w.a.environmentId }),
  }),
  "POST /v1/tenants/:tenantId/agent-keys": async (w) => ({
    caller: w.a.user,
    ids: { tenantId: w.a.tenantId },
    body: { name: "Research agent", model: "model-1", scopes: ["members:read"] },
    expect: () => ({ types: ["agent_key.created"], environmentId: w.a.environmentId }),
  }),
  "POST /v1/tenants/:tenantId/agent-keys/:agentKeyId/revoke": async (w) => ({
    caller: w.a.key,
    ids: {
      tenantId: w.a.tenantId,
      agentKeyId: (await paramFixture("agentKeyId")(w, w.a, { tenantId: { id: w.a.tenantId, owner: w.a.key } })).id,
    },
    expect: () => ({ types: ["agent_key.revoked"], environmentId: w.a.environmentId }),
  }),

  // Events: publishing (a tenant key, into its tenant), the catalog and settings (secret key)
  "POST /v1/events": async (w) => {
    const name = `facts.e${w.unique()}`;
    await json(
      await w.call(w.a.key, "POST", "/v1/events/types", { body: { name, description: "x" } }),
      201,
      "event type",
    );
    return {
      caller: w.a.tenantKey,
      body: { type: name, data: { orderId: "o_1" } },
      expect: () => ({ types: ["event.published"], environmentId: w.a.environmentId }),
    };
  },
  "POST /v1/events/types": async (w) => ({
    caller: w.a.key,
    body: { name: `facts.t${w.unique()}`, description: "An order shipped", schema: { type: "object" } },
    expect: () => ({ types: ["event_type.created"], environmentId: w.a.environmentId }),
  }),
  "PATCH /v1/events/types/:eventTypeId": async (w) => ({
    caller: w.a.key,
    ids: { eventTypeId: (await paramFixture("eventTypeId")(w, w.a, {})).id },
    body: { deprecated: true },
    expect: () => ({ types: ["event_type.updated"], environmentId: w.a.environmentId }),
  }),
  "PATCH /v1/events/settings": async (w) => ({
    caller: w.a.key,
    body: { retentionDays: 90 },
    expect: () => ({ types: ["event_settings.updated"], environmentId: w.a.environmentId }),
  }),

  // Webhooks: the home tenant's owner, tenant key and agent manage its endpoints
  "POST /v1/webhooks/endpoints": async (w) => ({
    caller: w.a.user,
    body: { url: "https://hooks.example.com/in", tenantId: w.a.tenantId, headers: { authorization: "Bearer x1" } },
    expect: () => ({ types: ["webhook_endpoint.created"], environmentId: w.a.environmentId }),
  }),
  "PATCH /v1/webhooks/endpoints/:endpointId": async (w) => ({
    caller: w.a.tenantKey,
    ids: { endpointId: (await paramFixture("endpointId")(w, w.a, {})).id },
    body: { enabled: false },
    expect: () => ({ types: ["webhook_endpoint.updated"], environmentId: w.a.environmentId }),
  }),
  "DELETE /v1/webhooks/endpoints/:endpointId": async (w) => ({
    caller: w.a.agent,
    ids: { endpointId: (await paramFixture("endpointId")(w, w.a, {})).id },
    expect: () => ({ types: ["webhook_endpoint.deleted"], environmentId: w.a.environmentId }),
  }),
  "POST /v1/webhooks/endpoints/:endpointId/rotate-secret": async (w) => ({
    caller: w.a.key,
    ids: { endpointId: (await paramFixture("endpointId")(w, w.a, {})).id },
    body: { gracePeriodSeconds: 3600 },
    expect: () => ({ types: ["webhook_endpoint.secret_rotated"], environmentId: w.a.environmentId }),
  }),
  "POST /v1/webhooks/endpoints/:endpointId/recover": async (w) => ({
    caller: w.a.tenantKey,
    ids: { endpointId: (await paramFixture("endpointId")(w, w.a, {})).id },
    body: { since: 0 },
    expect: () => ({ types: ["webhook_endpoint.recovered"], environmentId: w.a.environmentId }),
  }),
  "POST /v1/webhooks/messages/:messageId/resend": async (w) => ({
    caller: w.a.user,
    ids: { messageId: (await paramFixture("messageId")(w, w.a, {})).id },
    expect: () => ({ types: ["webhook_message.resent"], environmentId: w.a.environmentId }),
  }),
};

/** The probe module's routes exist for the harness only; they are not the plane's. */
const sweepable = (route: RouteDefinition) => isMutating(route) && !route.url.startsWith("/v1/probe");

const ROUTES = (await loadRouteTable()).filter(sweepable);

/** PAST_TENSE: irregular past participles used as fact verbs (the rest end in -ed). */
const PAST_TENSE = new Set([
  "reset",
  "set",
  "sent",
  "resent",
  "paid",
  "built",
  "run",
  "done",
  "made",
  "shown",
  "written",
]);

/** isPastTenseFact: `noun.past_verb` where some word of the verb is in the past tense. */
function isPastTenseFact(type: string): boolean {
  if (!/^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$/.test(type)) return false;
  const verb = type.slice(type.lastIndexOf(".") + 1);
  return verb.split("_").some((word) => word.endsWith("ed") || PAST_TENSE.has(word));
}

describe("facts coverage plan", () => {
  it("has a fixture for every mutating route, and none for a route that does not exist", () => {
    const keys = ROUTES.map(routeKey);
    expect(
      keys.filter((k) => !FACT_FIXTURES[k]),
      "mutating routes without a fact fixture",
    ).toEqual([]);
    expect(
      Object.keys(FACT_FIXTURES).filter((k) => !keys.includes(k)),
      "stale fixtures",
    ).toEqual([]);
  });

  it("tells past-tense fact types from others", () => {
    for (const ok of ["tenant.created", "user.logged_in", "user.password_reset", "session.revoked_others"]) {
      expect(isPastTenseFact(ok), ok).toBe(true);
    }
    for (const bad of ["tenant.create", "created", "tenant.Created", "tenant.creating", "user.login"]) {
      expect(isPastTenseFact(bad), bad).toBe(false);
    }
  });
});

describeEachEngine("facts coverage", (engine) => {
  let w: IsolationWorld;
  beforeAll(async () => {
    w = await createIsolationWorld(engine);
  });
  afterAll(async () => w?.close());

  async function auditEntries(): Promise<AuditEntryRow[]> {
    const rows = await w.t.app.db.kysely
      .selectFrom("audit_entry")
      .select(["id", "fact_id", "action", "actor_id", "environment_id", "tenant_id", "targets"])
      .execute();
    return rows.map((r) => ({ ...(r as AuditEntryRow), targets: fromJson(r.targets) }));
  }

  function expectNoSecretsIn(facts: unknown[], what: string): void {
    const needles = [...w.secrets].flatMap((s) => [s, createHash("sha256").update(s).digest("hex")]);
    for (const fact of facts) {
      const text = JSON.stringify(fact);
      const found = needles.filter((n) => text.includes(n));
      expect(found, `${what}: a fact carries a secret: ${text.slice(0, 400)}`).toEqual([]);
    }
  }

  for (const route of ROUTES) {
    const key = routeKey(route);
    it(`${key} commits its facts with the acting credential and environment`, async () => {
      const make = FACT_FIXTURES[key];
      if (!make) throw new Error(`${key} has no fact fixture: add one to FACT_FIXTURES`);
      const scenario = await make(w);
      const known = new Set((await w.facts()).map((f) => f.id));
      const knownEntries = new Set((await auditEntries()).map((e) => e.id));
      const capturedBefore = w.captured.length;
      const res = await w.call(scenario.caller, route.method, fillUrl(route.url, scenario.ids ?? {}), {
        ...(scenario.body !== undefined ? { body: scenario.body } : {}),
      });
      expectStatus(res, route.response.status, key);
      const expected = scenario.expect(res.json() as Record<string, unknown>);
      const actorId = expected.actorId ?? scenario.caller?.actorId;
      const fresh = (await w.facts()).filter((f) => !known.has(f.id));
      const product = expected.productEntries ?? [];
      expect(fresh.length + product.length, `${key} committed no fact`).toBeGreaterThan(0);
      expect(fresh.map((f) => f.type)).toEqual(expected.types);
      // Every committed fact is exactly one audit entry: same action, actor, tenant and targets.
      const entries = (await auditEntries()).filter((e) => !knownEntries.has(e.id));
      expect(entries.length, `${key}: audit entries`).toBe(fresh.length + product.length);
      const captured = new Map(w.captured.slice(capturedBefore).map((f) => [f.id, f]));
      for (const fact of fresh) {
        const mine = entries.filter((e) => e.fact_id === fact.id);
        expect(mine.length, `${fact.type}: one audit entry`).toBe(1);
        const entry = mine[0] as AuditEntryRow;
        expect(entry.action).toBe(fact.type);
        expect(entry.actor_id, `${fact.type}: audit actor`).toBe(fact.actor_id);
        expect(entry.environment_id, `${fact.type}: audit environment`).toBe(fact.environment_id);
        expect(entry.tenant_id, `${fact.type}: audit tenant`).toBe(captured.get(fact.id)?.tenantId ?? null);
        expect(entry.targets, `${fact.type}: audit targets`).toEqual(fact.targets);
      }
      const written = entries.filter((e) => e.fact_id === null);
      expect(written.map((e) => e.action)).toEqual(product);
      for (const entry of written) expect(entry.actor_id, `${entry.action}: product entry actor`).toBe(actorId);
      for (const fact of fresh) {
        expect(isPastTenseFact(fact.type), `${fact.type} is not noun.past_verb`).toBe(true);
        expect(fact.actor_id, `${fact.type}: actor`).toBe(actorId);
        expect(fact.environment_id, `${fact.type}: environment`).toBe(expected.environmentId);
        expect(fact.targets.length, `${fact.type}: targets`).toBeGreaterThan(0);
      }
      expectNoSecretsIn(w.captured.slice(capturedBefore), key);
    });
  }

  it("every fact type recorded during the whole run is declared by its module (the event catalog lists it)", () => {
    const declared = new Set(w.t.app.facts.declared().map((d) => d.type));
    const recorded = new Set(w.captured.map((f) => f.type).filter((type) => !type.startsWith("probe")));
    expect(recorded.size).toBeGreaterThan(40);
    expect([...recorded].filter((type) => !declared.has(type))).toEqual([]);
  });

  it("no fact recorded during the whole run carries a token or password the run used", () => {
    expect(w.secrets.size).toBeGreaterThan(10);
    expect(w.captured.length).toBeGreaterThan(ROUTES.length);
    expectNoSecretsIn(w.captured, "the run");
  });

  it("no audit entry stored during the whole run carries a token or password (AUD-09), and every chain verifies", async () => {
    const rows = await w.t.app.db.kysely.selectFrom("audit_entry").selectAll().execute();
    expect(rows.length).toBeGreaterThan(ROUTES.length);
    expectNoSecretsIn(rows, "the audit log");
    const audit = w.t.app.service(auditModule);
    for (const env of [w.a, w.b]) {
      const chains = await w.t.app.db.kysely
        .selectFrom("audit_chain")
        .select(["id", "tenant_id"])
        .where("environment_id", "=", env.environmentId)
        .execute();
      for (const chain of chains) {
        const result = await audit.exports.verifyChain({
          principal: { actorType: "system", actorId: "test", credentialId: "test", permissions: ["*"] },
          environmentId: env.environmentId,
          tenantId: chain.tenant_id as string | null,
        });
        expect(result.errors, `chain ${chain.id}`).toEqual([]);
      }
    }
  });
});
