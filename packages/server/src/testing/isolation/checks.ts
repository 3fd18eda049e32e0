import { expect } from "vitest";
import { z } from "zod";
import type { ActorType } from "../../platform/principal.js";
import type { CreatedObject, IsolationRegistry } from "../module-fixtures.js";
import { expectStatus } from "../module-fixtures.js";
import type { CheckName, RoutePlan } from "./plan.js";
import {
  bodyFor,
  type CoverageLog,
  createParams,
  environmentCredentials,
  expectRefused,
  idsForAnyCaller,
  idsOf,
  logCoverage,
} from "./refusals.js";
import { acceptedActorTypes, type Credential, fillUrl } from "./route-table.js";
import type { CallOptions, EnvActors, IsolationWorld } from "./world.js";

/**
 * The isolation checks (DESIGN.md §7, checklist TEN-01…TEN-03, OWASP API1/API5). Each takes the
 * world, a route's plan and the registry of fixtures (the world's by default), throws on the first
 * leak, and records in `log` that it ran.
 */

/**
 * checkCrossEnvironment (TEN-01, API1): A's objects, addressed by id with B's credentials (B's key,
 * a B user session), answer 404 and change nothing; so does another user of A for user routes;
 * for nested routes, B's parent with A's child too. Finally the owner's own call succeeds (the
 * positive control: otherwise the 404s would prove nothing).
 */
export async function checkCrossEnvironment(
  w: IsolationWorld,
  plan: RoutePlan,
  registry: IsolationRegistry = w.registry,
  log?: CoverageLog,
): Promise<void> {
  const { route } = plan;
  const objects = await createParams(w, w.a, plan.params, registry);
  const ids = idsOf(objects);
  const body = await bodyFor(w, route, ids, registry);
  const reads = Object.values(objects).flatMap((o) => (o.read ? [o.read] : []));
  const callers = environmentCredentials(w.b, route, w.b.user, true);
  if (callers.length === 0) throw new Error(`${plan.key}: no environment credential to call it with`);
  for (const caller of callers) {
    await expectRefused(w, {
      label: `${caller.label} with A's ids`,
      caller,
      method: route.method,
      url: fillUrl(route.url, ids),
      body,
      status: 404,
      reads,
    });
  }
  if (plan.params[0] === "tenantId") {
    // Cross-tenant, same environment: the home tenant's owner, key and agent in another tenant.
    // (Environment-wide callers — secret keys, operators acting in A — reach every tenant of A.)
    for (const caller of environmentCredentials(w.a, route).filter((c) => c.kind !== "service" && !c.environmentId)) {
      await expectRefused(w, {
        label: `${caller.label} (bound to A's home tenant) in another tenant of A`,
        caller,
        method: route.method,
        url: fillUrl(route.url, ids),
        body,
        status: 404,
        reads,
      });
    }
  }
  const last = objects[plan.params[plan.params.length - 1] as string] as CreatedObject;
  if (last.owner.kind === "user") {
    await expectRefused(w, {
      label: "another end user of A",
      caller: w.a.otherUser,
      method: route.method,
      url: fillUrl(route.url, ids),
      body,
      status: 404,
      reads,
    });
  }
  if (plan.params.length > 1) {
    const own = idsOf(await createParams(w, w.b, plan.params, registry));
    // B's operator acts in B's own tenant under support access, as an operator would: what it
    // must not reach is A's object named beside it.
    if (plan.params[0] === "tenantId" && callers.includes(w.b.operator)) {
      await supportAccess(w, w.b, own.tenantId as string);
    }
    for (const p of plan.params) {
      for (const caller of callers) {
        await expectRefused(w, {
          label: `${caller.label} with B's ids but A's :${p}`,
          caller,
          method: route.method,
          url: fillUrl(route.url, { ...own, [p]: ids[p] as string }),
          body,
          status: 404,
          reads,
        });
      }
    }
  }
  const control = await w.call(last.owner, route.method, fillUrl(route.url, ids), {
    ...(body !== undefined ? { body } : {}),
  });
  expect(
    control.status,
    `positive control: ${last.owner.label} calling ${route.method} ${fillUrl(route.url, ids)} must succeed: ${control.text.slice(0, 300)}`,
  ).toBe(route.response.status);
  logCoverage(log, "cross_environment", plan.key);
}

/** supportAccess gives `env`'s operator write access to one of its tenants (when the plane keeps support access). */
async function supportAccess(w: IsolationWorld, env: EnvActors, tenantId: string): Promise<void> {
  const res = await w.call(env.operator, "POST", "/v1/support-access", {
    body: { tenantId, reason: "isolation: the operator acts in its own environment's tenant", access: "write" },
  });
  if (res.status === 404 && (res.json() as { code?: string }).code === "route_not_found") return;
  expectStatus(res, 201, "granting the operator support access");
}

function needlesOf(env: EnvActors, objects: CreatedObject[]): string[] {
  return [
    env.marker,
    env.environmentId,
    env.key.actorId,
    env.user.actorId,
    env.user.sessionId,
    env.otherUser.actorId,
    ...objects.map((o) => o.id),
  ];
}

/**
 * checkListIsolation (TEN-02): a list or search route called with B's credentials never returns
 * A's objects, whatever filter, search or cursor names them; with A's credentials it does (the
 * positive control).
 */
export async function checkListIsolation(
  w: IsolationWorld,
  plan: RoutePlan,
  registry: IsolationRegistry = w.registry,
  log?: CoverageLog,
): Promise<void> {
  const { route } = plan;
  const aObjects: CreatedObject[] = [];
  for (const fixture of Object.values(registry.params)) {
    aObjects.push(await fixture(w, w.a, {}));
    await fixture(w, w.b, {});
  }
  const needles = needlesOf(w.a, aObjects);
  const queryFields =
    route.query instanceof z.ZodObject ? Object.keys(route.query.shape).filter((k) => k !== "limit") : [];
  const values = [
    w.a.marker,
    w.a.environmentId,
    w.a.user.email,
    ...aObjects.map((o) => o.id),
    Buffer.from(JSON.stringify({ id: "0" })).toString("base64url"),
  ];
  // A user acts within a tenant: on routes that take `tenantId`, it names its home tenant. A paged
  // list is asked for its largest page; a route without `limit` (one object, e.g. the caller itself)
  // is not sent one.
  const paged = route.query instanceof z.ZodObject && "limit" in route.query.shape;
  const base = (caller: Credential, env: EnvActors): Record<string, string> => ({
    ...(paged ? { limit: "100" } : {}),
    ...(caller.kind === "user" && queryFields.includes("tenantId") ? { tenantId: env.tenantId } : {}),
  });
  const callers = environmentCredentials(w.b, route);
  for (const caller of callers) {
    const plain = await w.call(caller, "GET", route.url, { query: base(caller, w.b) });
    expectStatus(plain, route.response.status, `${caller.label} listing ${route.url}`);
    expectNoNeedles(plain.text, needles, `${caller.label}: GET ${route.url}`);
    for (const field of queryFields) {
      for (const value of values) {
        const res = await w.call(caller, "GET", route.url, { query: { ...base(caller, w.b), [field]: value } });
        const what = `${caller.label}: GET ${route.url}?${field}=${value}`;
        expect(res.status, `${what} answered ${res.status}: ${res.text.slice(0, 300)}`).toBeLessThan(500);
        expectNoNeedles(
          res.text,
          needles.filter((n) => n !== value && !value.includes(n)),
          what,
        );
      }
    }
  }
  for (const caller of environmentCredentials(w.a, route)) {
    const own = await w.call(caller, "GET", route.url, { query: base(caller, w.a) });
    expectStatus(own, route.response.status, `${caller.label} listing ${route.url}`);
    expect(
      needles.some((n) => own.text.includes(n)),
      `positive control: ${caller.label} listing ${route.url} must see some of A's objects: ${own.text.slice(0, 300)}`,
    ).toBe(true);
  }
  logCoverage(log, "list_isolation", plan.key);
}

function expectNoNeedles(text: string, needles: string[], what: string): void {
  const found = needles.filter((n) => text.includes(n));
  expect(found, `${what} returned A's data: ${text.slice(0, 400)}`).toEqual([]);
}

/**
 * checkSmuggledScope (TEN-03): `environmentId`/`tenantId` naming A in the body, the query or
 * `X-Environment-Id`/`X-Tenant-Id` headers, sent with B's credentials, are refused (400 naming
 * the field) or ignored: never a 5xx, never A's object, and nothing of A changes.
 */
export async function checkSmuggledScope(
  w: IsolationWorld,
  plan: RoutePlan,
  registry: IsolationRegistry = w.registry,
  log?: CoverageLog,
): Promise<void> {
  const { route } = plan;
  const objects = await createParams(w, w.a, plan.params, registry);
  const aTenant = await (registry.params.tenantId ?? w.registry.params.tenantId)?.(w, w.a, {});
  const ids = idsOf(objects);
  const body = await bodyFor(w, route, ids, registry);
  const smuggled = { environmentId: w.a.environmentId, tenantId: aTenant?.id ?? "ten_unknown" };
  const needles = [w.a.environmentId, smuggled.tenantId, ...Object.values(ids)];
  const plainBody = body === undefined ? {} : { body };
  const variants: Array<{ label: string; options: CallOptions; field: "body" | "query" | "header" }> = [
    ...(route.method === "GET"
      ? []
      : [
          {
            label: "in the body",
            field: "body" as const,
            options: { body: { ...(typeof body === "object" && body !== null ? body : {}), ...smuggled } },
          },
        ]),
    { label: "in the query", field: "query", options: { ...plainBody, query: smuggled } },
    {
      label: "in headers",
      field: "header",
      options: {
        ...plainBody,
        headers: { "x-environment-id": smuggled.environmentId, "x-tenant-id": smuggled.tenantId },
      },
    },
  ];
  for (const variant of variants) {
    // A fresh B credential per call: an ignored smuggle may succeed (log out, revoke), in B only.
    const types = acceptedActorTypes(route);
    const fresh = types !== "none" && types.includes("user") ? await w.newUser(w.b, "smuggler") : w.b.user;
    for (const caller of environmentCredentials(w.b, route, fresh)) {
      const url = fillUrl(route.url, ids);
      const what = `${caller.label} with environmentId/tenantId of A ${variant.label}: ${route.method} ${url}`;
      const mark = await w.mark();
      const factsBefore = w.captured.length;
      const res = await w.call(caller, route.method, url, variant.options);
      // A's rows the call wrote (gained or lost), netted out.
      const aRowsChanged = (await w.changesSince(mark)).flatMap((d) =>
        [...d.added, ...d.removed].filter((row) => needles.some((n) => row.includes(n))),
      );
      expect(res.status, `${what} answered ${res.status}: ${res.text.slice(0, 300)}`).toBeLessThan(500);
      const problem = res.json() as { code?: string; errors?: Array<{ path: string }> } | undefined;
      const refused =
        res.status === 400 &&
        (problem?.errors ?? []).some((e) => /(^|\.)(environmentId|tenantId)$/.test(e.path) || e.path === "body");
      if (plan.params.length > 0) {
        expect([400, 404], `${what} reached A's object: ${res.text.slice(0, 300)}`).toContain(res.status);
      }
      if (!refused) {
        expect(
          needles.filter((n) => res.text.includes(n) && !url.includes(n)),
          `${what} answered with A's data`,
        ).toEqual([]);
      }
      expect(aRowsChanged, `${what} changed A's rows`).toEqual([]);
      const aFacts = w.captured.slice(factsBefore).filter((f) => f.environmentId === w.a.environmentId);
      expect(
        aFacts.map((f) => f.type),
        `${what} recorded facts in A`,
      ).toEqual([]);
      if (variant.field === "body" && body !== undefined && res.status === 400) {
        expect(refused, `${what} was refused for another reason: ${res.text.slice(0, 300)}`).toBe(true);
      }
    }
  }
  logCoverage(log, "smuggled_scope", plan.key);
}

/**
 * checkFunctionLevel (API5): every credential kind a route does not list is refused with 403
 * (401 without a credential), before anything changes: the admin operator naming no environment on environment routes,
 * a secret key and an end-user session on operator routes, a session on service routes, and so on.
 */
export async function checkFunctionLevel(
  w: IsolationWorld,
  plan: RoutePlan,
  registry: IsolationRegistry = w.registry,
  log?: CoverageLog,
): Promise<void> {
  const { route } = plan;
  const types = acceptedActorTypes(route);
  if (types === "none") return;
  const ids = await idsForAnyCaller(w, plan, registry);
  const body = await bodyFor(w, route, ids, registry);
  const url = fillUrl(route.url, ids);
  const kinds: Array<{ type: ActorType; credential: Credential }> = [
    { type: "operator", credential: w.admin },
    { type: "service", credential: w.a.key },
    { type: "user", credential: w.a.user },
    { type: "tenant_key", credential: w.a.tenantKey },
    { type: "agent", credential: w.a.agent },
  ];
  for (const { type, credential } of kinds) {
    if (types.includes(type)) continue;
    await expectRefused(w, {
      label: `${credential.label} on a route for ${types.join("/")}`,
      caller: credential,
      method: route.method,
      url,
      body,
      status: 403,
    });
  }
  const planeWide = typeof route.auth === "object" && route.auth.operatorsPlaneWide === true;
  if (
    types.includes("operator") &&
    !route.url.includes(":environmentId") &&
    !isOperatorOnlyRoute(types) &&
    !planeWide
  ) {
    // An operator acts in an environment only when it names one (`Baseplate-Environment`).
    await expectRefused(w, {
      label: "the admin operator naming no environment",
      caller: w.admin,
      method: route.method,
      url,
      body,
      status: 403,
    });
  }
  await expectRefused(w, { label: "no credential", caller: null, method: route.method, url, body, status: 401 });
  logCoverage(log, "function_level", plan.key);
}

function isOperatorOnlyRoute(types: readonly ActorType[]): boolean {
  return types.length === 1 && types[0] === "operator";
}

/**
 * checkOperatorSupport (API5): a support operator reads every operator-only GET route, and every
 * operator-only mutating route refuses it with 403 and changes nothing (`supportExceptions` aside,
 * which run their own check).
 */
export async function checkOperatorSupport(
  w: IsolationWorld,
  plan: RoutePlan,
  registry: IsolationRegistry = w.registry,
  log?: CoverageLog,
): Promise<void> {
  const { route } = plan;
  const exception = registry.supportExceptions[plan.key];
  if (exception) {
    await exception.check(w, route);
    logCoverage(log, "operator_support", plan.key);
    return;
  }
  const ids = await idsForAnyCaller(w, plan, registry);
  const url = fillUrl(route.url, ids);
  if (route.method === "GET") {
    const res = await w.call(w.support, "GET", url);
    expectStatus(res, route.response.status, `support operator reading ${url}`);
  } else {
    const body = await bodyFor(w, route, ids, registry);
    await expectRefused(w, {
      label: "support operator",
      caller: w.support,
      method: route.method,
      url,
      body,
      status: 403,
    });
  }
  logCoverage(log, "operator_support", plan.key);
}

/** CHECKS maps each check to its runner, for suites that loop over a plan. */
export const CHECKS: Record<
  CheckName,
  (w: IsolationWorld, plan: RoutePlan, registry?: IsolationRegistry, log?: CoverageLog) => Promise<void>
> = {
  cross_environment: checkCrossEnvironment,
  list_isolation: checkListIsolation,
  smuggled_scope: checkSmuggledScope,
  function_level: checkFunctionLevel,
  operator_support: checkOperatorSupport,
};
