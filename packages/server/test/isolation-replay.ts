import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type EngineName, engines } from "../src/testing/harness.js";
import {
  CHECKS,
  type CheckName,
  createIsolationWorld,
  type IsolationWorld,
  loadPlaneFixtures,
  newCoverageLog,
  planIsolation,
} from "../src/testing/isolation.js";

// DESIGN.md §7: "Tenant isolation is tested, not assumed: a shared security suite replays every
// route with another tenant's and another environment's credentials." Checklist TEN-01…TEN-03,
// OWASP API1 (BOLA) and API5 (BFLA). The plan is driven by the route table (see isolation.test.ts).

export const { routes: ROUTES, isolation: ISOLATION_REGISTRY } = await loadPlaneFixtures();
export const PLAN = planIsolation(ROUTES, ISOLATION_REGISTRY);

const TITLES: Record<CheckName, string> = {
  cross_environment: "A's objects answer 404 to B's credentials and change nothing (TEN-01, API1)",
  list_isolation: "lists and searches with B's credentials never return A's objects (TEN-02)",
  smuggled_scope: "environmentId / tenantId smuggled in body, query or headers are refused or ignored (TEN-03)",
  function_level: "credential kinds the route does not accept get 403, no credential 401 (API5)",
  operator_support: "support operators may read but not change (API5)",
};

/** SHARDS: each engine's sweep is split into this many test files, which run in parallel. */
export const SHARDS = 2;

/**
 * inShard says whether a route key belongs to shard `shard` of `SHARDS`: the route keys, sorted,
 * are dealt out in turn, so every shard gets a similar mix of modules.
 */
function inShard(key: string, shard: number): boolean {
  const all = [...new Set([...PLAN.routes.map((r) => r.key), ...PLAN.pathParamRoutes, ...PLAN.excluded])].sort();
  return all.indexOf(key) % SHARDS === shard;
}

/**
 * replayEveryRoute declares, for one engine and one shard of the routes, every planned check of
 * each route against one isolation world. Each engine and shard has its own test file so that they
 * run in parallel (together they replay every route). An engine
 * not configured here (PostgreSQL without BASEPLATE_TEST_DATABASE_URL) is declared skipped; in CI
 * global setup fails the run instead.
 */
export function replayEveryRoute(engine: EngineName, shard: number): void {
  const routes = PLAN.routes.filter((r) => inShard(r.key, shard));
  const pathParamRoutes = PLAN.pathParamRoutes.filter((k) => inShard(k, shard));
  const excluded = PLAN.excluded.filter((k) => inShard(k, shard));
  if (!engines().includes(engine)) {
    describe.skip(`isolation [${engine}]: not configured`, () => {
      it("replays every route", () => {});
    });
    return;
  }
  describe(`isolation [${engine}] shard ${shard + 1}/${SHARDS}`, () => {
    let w: IsolationWorld;
    const log = newCoverageLog();
    beforeAll(async () => {
      w = await createIsolationWorld(engine);
    });
    afterAll(async () => w?.close());

    for (const plan of routes) {
      describe(plan.key, () => {
        for (const check of plan.checks) {
          // "Changed nothing" is read from the world's change log (one indexed read per refused
          // call, whatever the world's size). The limit only catches hangs.
          it(TITLES[check], () => CHECKS[check](w, plan, ISOLATION_REGISTRY, log), 90_000);
        }
      });
    }

    it("ran every planned check, and the cross-environment check on every route with path params", () => {
      for (const plan of routes) {
        for (const check of plan.checks) expect(log.get(check)?.has(plan.key), `${check} ${plan.key}`).toBe(true);
      }
      const ran = [...(log.get("cross_environment") ?? []), ...(log.get("operator_support") ?? [])].filter((k) =>
        pathParamRoutes.includes(k),
      );
      expect([...ran, ...excluded].sort()).toEqual([...pathParamRoutes].sort());
    });
  });
}
