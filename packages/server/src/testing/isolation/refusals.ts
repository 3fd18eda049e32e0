import { expect } from "vitest";
import type { RouteDefinition } from "../../platform/http/route.js";
import type { CreatedObject, IsolationRegistry } from "../module-fixtures.js";
import { sampleBody } from "./bodies.js";
import type { CheckName, RoutePlan } from "./plan.js";
import { acceptedActorTypes, type Credential, isOperatorOnly, routeKey } from "./route-table.js";
import { describeDiff } from "./snapshots.js";
import type { EnvActors, EnvUser, IsolationWorld } from "./world.js";

/**
 * What every check is made of: the credentials a route accepts, the objects and body of a call, a
 * call that must be refused and change nothing, and the log of which checks ran.
 */

/**
 * environmentCredentials lists an environment's credentials a route accepts (service key, user
 * session, tenant and agent keys) and, with `operator`, the admin operator acting in it. (Only the
 * cross-environment check calls as the operator: acting in B is a binding of B's scope, which the
 * list and smuggling checks already prove with B's secret key.)
 */
export function environmentCredentials(
  env: EnvActors,
  route: RouteDefinition,
  user: EnvUser = env.user,
  operator = false,
): Credential[] {
  const types = acceptedActorTypes(route);
  if (types === "none") return [];
  const out: Credential[] = [];
  if (types.includes("service")) out.push(env.key);
  if (types.includes("user")) out.push(user);
  if (types.includes("tenant_key")) out.push(env.tenantKey);
  if (types.includes("agent")) out.push(env.agent);
  if (operator && types.includes("operator") && !route.url.includes(":environmentId")) out.push(env.operator);
  return out;
}

/** bodyFor returns the route's body fixture, or one generated from its schema. */
export async function bodyFor(
  w: IsolationWorld,
  route: RouteDefinition,
  ids: Record<string, string>,
  registry: IsolationRegistry,
): Promise<unknown> {
  const fixture = registry.bodies[routeKey(route)];
  return fixture ? fixture(w, ids) : sampleBody(route);
}

/** createParams creates, in `env`, the objects the parameters name, parents first. */
export async function createParams(
  w: IsolationWorld,
  env: EnvActors,
  params: string[],
  registry: IsolationRegistry,
): Promise<Record<string, CreatedObject>> {
  const out: Record<string, CreatedObject> = {};
  for (const p of params) {
    const fixture = registry.params[p];
    if (!fixture) throw new Error(`No fixture for path parameter :${p}`);
    out[p] = await fixture(w, env, { ...out });
  }
  return out;
}

/** idsOf maps each parameter to its object's id. */
export function idsOf(objects: Record<string, CreatedObject>): Record<string, string> {
  return Object.fromEntries(Object.entries(objects).map(([k, o]) => [k, o.id]));
}

/** RefusedCall: a call `expectRefused` makes, and the one status it must answer. */
export interface RefusedCall {
  label: string;
  caller: Credential | null;
  method: string;
  url: string;
  body?: unknown;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  /** status: the one expected status. */
  status: number;
  /** reads: read-backs of the objects that must not change. */
  reads?: Array<() => Promise<unknown>>;
}

/**
 * expectRefused makes a call that must be refused with `status` and must change nothing: every
 * table's rows (volatile columns aside) and every read-back are the same after it, and no fact
 * was recorded.
 */
export async function expectRefused(w: IsolationWorld, c: RefusedCall): Promise<void> {
  const readsBefore = await Promise.all((c.reads ?? []).map((r) => r()));
  const mark = await w.mark();
  const factsBefore = w.captured.length;
  const denialsBefore = w.denials.length;
  const res = await w.call(c.caller, c.method, c.url, {
    ...(c.body !== undefined ? { body: c.body } : {}),
    ...(c.query ? { query: c.query } : {}),
    ...(c.headers ? { headers: c.headers } : {}),
  });
  const diffs = await w.changesSince(mark);
  const what = `${c.label}: ${c.method} ${c.url}`;
  expect(res.status, `${what} answered ${res.status}: ${res.text.slice(0, 400)}`).toBe(c.status);
  if (c.status === 404) {
    const code = (res.json() as { code?: string } | undefined)?.code;
    expect(code, `${what} hit no route at all (check the URL)`).not.toBe("route_not_found");
  }
  expect(diffs, `${what} changed the database:\n${describeDiff(diffs)}`).toEqual([]);
  expect(
    w.captured.slice(factsBefore).map((f) => f.type),
    `${what} recorded facts`,
  ).toEqual([]);
  // A refusal of an agent or tenant key is handed to the audit hook as the caller's own, in its own tenant.
  for (const d of w.denials.slice(denialsBefore)) {
    expect(d.actorId, `${what}: a denial recorded for another actor`).toBe(c.caller?.actorId ?? null);
  }
  const readsAfter = await Promise.all((c.reads ?? []).map((r) => r()));
  expect(readsAfter, `${what} changed an object as its owner sees it`).toEqual(readsBefore);
}

/** CoverageLog records which routes each check actually ran on (the suite compares it to the plan). */
export type CoverageLog = Map<CheckName, Set<string>>;

/** newCoverageLog returns an empty coverage log. */
export function newCoverageLog(): CoverageLog {
  return new Map();
}

/** logCoverage records that `check` ran on the route `key`. */
export function logCoverage(log: CoverageLog | undefined, check: CheckName, key: string): void {
  if (!log) return;
  const set = log.get(check) ?? new Set<string>();
  log.set(check, set);
  set.add(key);
}

/**
 * idsForAnyCaller creates the route's objects: throwaways of the admin operator on operator-only
 * routes, objects of environment A otherwise.
 */
export async function idsForAnyCaller(
  w: IsolationWorld,
  plan: RoutePlan,
  registry: IsolationRegistry,
): Promise<Record<string, string>> {
  if (isOperatorOnly(plan.route)) {
    const ids: Record<string, string> = {};
    for (const p of plan.params) {
      const fixture = registry.operatorParams[p];
      if (!fixture) throw new Error(`${plan.key}: no operator fixture for :${p}`);
      ids[p] = await fixture(w);
    }
    return ids;
  }
  return idsOf(await createParams(w, w.a, plan.params, registry));
}
