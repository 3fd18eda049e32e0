import type { RouteDefinition } from "../platform/http/route.js";
import type { Credential } from "./isolation/route-table.js";
import type { CallResult, EnvActors, IsolationWorld } from "./isolation/world.js";

/**
 * Module fixtures: what a module gives the plane-wide suites (the isolation runner and the facts
 * sweep) so they can exercise its routes. Each module keeps them beside its routes, in
 * `modules/<name>/fixtures.ts` (`testing/<name>/fixtures.ts` for a test-only module such as the
 * probe), exporting one `fixtures` object built with `defineModuleFixtures`. The runner finds them
 * by the module's name (see `isolation/registry.ts`): adding a module needs no edit elsewhere.
 */

/** CreatedObject is an object a fixture made: its id, the credential that owns it, and a read-back. */
export interface CreatedObject {
  id: string;
  /** owner is the credential allowed to act on it (the positive control uses it). */
  owner: Credential;
  /** read returns the object as its owner sees it, to compare before and after a refused call. */
  read?: () => Promise<unknown>;
}

/**
 * ParamFixture creates, in `env`, the object a path parameter names, through HTTP with `env`'s
 * credentials. `parents` holds the objects of the parameters before it in the URL; a fixture
 * must create the parents it needs itself when they are missing (list checks call it alone).
 */
export type ParamFixture = (
  w: IsolationWorld,
  env: EnvActors,
  parents: Record<string, CreatedObject>,
) => Promise<CreatedObject>;

/** OperatorParamFixture creates, as the admin operator, the object a parameter of an operator-only route names. */
export type OperatorParamFixture = (w: IsolationWorld) => Promise<string>;

/** BodyFixture returns the request body of one route (when the one generated from the schema does not fit). */
export type BodyFixture = (w: IsolationWorld, ids: Record<string, string>) => unknown;

/** SupportException is an operator-only mutating route support operators may call, with its own check. */
export interface SupportException {
  reason: string;
  check(w: IsolationWorld, route: RouteDefinition): Promise<void>;
}

/** IsolationRegistry: the fixtures of every module of a plane, merged (see `mergeModuleFixtures`). */
export interface IsolationRegistry {
  params: Record<string, ParamFixture>;
  operatorParams: Record<string, OperatorParamFixture>;
  bodies: Record<string, BodyFixture>;
  /** excluded: routes with path params that no check covers, by route key, with the reason. */
  excluded: Record<string, string>;
  /**
   * streams: routes that answer with a never-ending stream (server-sent events), by route key, with
   * the test file that checks their isolation: the runner's list and smuggled-scope checks, which
   * wait for a complete answer, skip them (function-level checks still run: refusals end).
   */
  streams?: Record<string, string>;
  supportExceptions: Record<string, SupportException>;
}

/** FactExpectation: the facts one successful call must commit, in order. */
export interface FactExpectation {
  types: string[];
  /** productEntries: audit entries the call writes itself (a product's own entries: no fact). */
  productEntries?: string[];
  /** actorId defaults to the calling credential's actor. */
  actorId?: string;
  environmentId: string | null;
}

/** FactScenario: one successful call of a mutating route, and what it must commit. */
export interface FactScenario {
  caller: Credential | null;
  ids?: Record<string, string>;
  body?: unknown;
  /** expect is given the response body (ids of what the call created). */
  expect(response: Record<string, unknown>): FactExpectation;
}

/** FactCase prepares the scenario of one mutating route in the world (the facts sweep runs it). */
export type FactCase = (w: IsolationWorld) => Promise<FactScenario>;

/**
 * ModuleFixtures is everything one module provides the plane-wide suites. Parameter fixtures are
 * keyed by path-parameter name, the rest by route key (`METHOD /url`, see `routeKey`). Two modules
 * may not claim the same parameter or route key, and a route key must name one of the module's own
 * routes (`mergeModuleFixtures` refuses both).
 */
export interface ModuleFixtures {
  /** module is the name of the module (its `defineModule` name, which is also its folder's). */
  module: string;
  /** params: one fixture per path parameter the module's environment routes introduce. */
  params?: Record<string, ParamFixture>;
  /** operatorParams: one fixture per path parameter the module's operator-only routes introduce. */
  operatorParams?: Record<string, OperatorParamFixture>;
  /** bodies: request bodies of routes where the one generated from the schema does not fit. */
  bodies?: Record<string, BodyFixture>;
  /** excluded: routes with path params that no isolation check covers, with the reason. */
  excluded?: Record<string, string>;
  /** streams: never-ending routes, with the test that checks their isolation (see `IsolationRegistry`). */
  streams?: Record<string, string>;
  /** supportExceptions: operator-only mutating routes support operators may call, with their check. */
  supportExceptions?: Record<string, SupportException>;
  /** facts: one successful call per mutating route, and the facts it must commit (the facts sweep). */
  facts?: Record<string, FactCase>;
  /** factExclusions: mutating routes the facts sweep does not call, with the reason. */
  factExclusions?: Record<string, string>;
}

/** defineModuleFixtures returns its argument, typed: the one export of a module's `fixtures.ts`. */
export function defineModuleFixtures(fixtures: ModuleFixtures): ModuleFixtures {
  return fixtures;
}

/** expectStatus fails with the response body when the status is not the expected one. */
export function expectStatus(res: CallResult, status: number, what: string): void {
  if (res.status !== status) {
    throw new Error(`${what}: expected ${status}, got ${res.status}: ${res.text.slice(0, 500)}`);
  }
}

/** expectJson checks the status (see `expectStatus`) and returns the JSON body. */
export async function expectJson(res: CallResult, status: number, what: string): Promise<Record<string, unknown>> {
  expectStatus(res, status, what);
  return res.json() as Record<string, unknown>;
}

/** created: `expectJson` for a 201. */
export function created(res: CallResult, what: string): Promise<Record<string, unknown>> {
  return expectJson(res, 201, what);
}

/** readBack reads `url` as `credential` and returns its status and body (a `CreatedObject.read`). */
export async function readBack(w: IsolationWorld, credential: Credential, url: string): Promise<unknown> {
  const res = await w.call(credential, "GET", url);
  return { status: res.status, body: res.json() };
}

/** findIn reads a list as `credential` and returns its element with `id` (null when absent). */
export async function findIn(
  w: IsolationWorld,
  credential: Credential,
  url: string,
  id: string,
  query?: Record<string, string>,
): Promise<unknown> {
  const res = await w.call(credential, "GET", url, query ? { query } : {});
  return (res.json() as { data: Array<{ id: string }> }).data.find((o) => o.id === id) ?? null;
}
