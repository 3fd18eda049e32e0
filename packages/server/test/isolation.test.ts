import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { AppError } from "../src/platform/errors.js";
import { pageSchema } from "../src/platform/http/pagination.js";
import { defineRoute, type RouteDefinition } from "../src/platform/http/route.js";
import { defineModule, type ModuleContext } from "../src/platform/module.js";
import { describeEachEngine } from "../src/testing/harness.js";
import {
  checkCrossEnvironment,
  checkListIsolation,
  checkSmuggledScope,
  createIsolationWorld,
  fixtureFileOf,
  type IsolationWorld,
  type ModuleFixtures,
  mergeModuleFixtures,
  planIsolation,
  type RoutePlan,
  routeKey,
  sampleBody,
} from "../src/testing/isolation.js";
import { ProbeErrors } from "../src/testing/probe-module.js";
import { ISOLATION_REGISTRY, PLAN, ROUTES } from "./isolation-replay.js";

// DESIGN.md §7: "Tenant isolation is tested, not assumed: a shared security suite replays every
// route with another tenant's and another environment's credentials." Checklist TEN-01…TEN-03,
// OWASP API1 (BOLA) and API5 (BFLA). The suite is driven by the route table: a new module's routes
// are checked as soon as they are registered, and the plan fails until their fixtures exist. Each
// module keeps its fixtures in its own folder (`modules/<name>/fixtures.ts`); the runner finds them.

// The replay of every route with another tenant's and environment's credentials (the bulk of the
// suite, minutes per engine) lives in isolation-{sqlite,postgres}-{1,2}.test.ts, two shards per engine
// that run in parallel; this file checks the plan itself and that the runner catches leaks.

describe("isolation plan over the route table", () => {
  it("has a fixture for every path parameter, credential kind and body it needs", () => {
    expect(PLAN.problems).toEqual([]);
  });

  it("checks every route with path params: cross-environment, operator checks, or a documented exclusion", () => {
    const checked = PLAN.routes
      .filter((p) => p.checks.includes("cross_environment") || p.checks.includes("operator_support"))
      .filter((p) => p.params.length > 0)
      .map((p) => p.key);
    expect([...checked, ...PLAN.excluded].sort()).toEqual([...PLAN.pathParamRoutes].sort());
    // Every exclusion names a route that exists (stale exclusions hide nothing).
    const keys = new Set(ROUTES.map(routeKey));
    expect(Object.keys(ISOLATION_REGISTRY.excluded).filter((k) => !keys.has(k))).toEqual([]);
  });

  it("covers the routes that take environment credentials and path params today", () => {
    const cross = PLAN.routes.filter((p) => p.checks.includes("cross_environment")).map((p) => p.key);
    expect(cross).toEqual(
      expect.arrayContaining([
        "GET /v1/tenants/:tenantId",
        "PATCH /v1/tenants/:tenantId",
        "GET /v1/users/:userId",
        "PATCH /v1/users/:userId",
        "POST /v1/users/:userId/password-reset-tokens",
        "GET /v1/users/:userId/sessions",
        "POST /v1/users/:userId/sessions/revoke",
        "POST /v1/auth/sessions/:sessionId/revoke",
        "GET /v1/probe/items/:itemId",
      ]),
    );
  });

  it("fails a route whose path parameter has no fixture, and one it cannot classify", () => {
    const widget = fakeRoute("GET", "/v1/widgets/:widgetId", { actorTypes: ["service"] });
    const publicWidget = fakeRoute("GET", "/v1/public/widgets/:widgetId", "none");
    const agentOnly = fakeRoute("GET", "/v1/agent/things", { actorTypes: ["agent"] });
    const operatorWidget = fakeRoute("GET", "/v1/operator/widgets/:widgetId", { actorTypes: ["operator"] });
    const plan = planIsolation([widget, publicWidget, agentOnly, operatorWidget], ISOLATION_REGISTRY);
    expect(plan.problems).toEqual([
      "GET /v1/widgets/:widgetId: no fixture for path parameter :widgetId (add it to params)",
      "GET /v1/public/widgets/:widgetId: has path parameters but no isolation check applies; add fixtures or document an exclusion",
      "GET /v1/operator/widgets/:widgetId: no operator fixture for path parameter :widgetId (add it to operatorParams)",
    ]);
    const documented = planIsolation([publicWidget], {
      ...ISOLATION_REGISTRY,
      excluded: { "GET /v1/public/widgets/:widgetId": "public catalogue, no owner" },
    });
    expect(documented.problems).toEqual([]);
    expect(documented.excluded).toEqual(["GET /v1/public/widgets/:widgetId"]);
  });

  it("generates a valid body from every route's schema (or the route has a body fixture)", () => {
    for (const route of ROUTES) {
      if (!route.body || ISOLATION_REGISTRY.bodies[routeKey(route)]) continue;
      const body = sampleBody(route);
      expect(route.body.safeParse(body).success, routeKey(route)).toBe(true);
    }
  });
});

describe("module fixtures", () => {
  const widgets = (module: string, fixtures: Partial<ModuleFixtures> = {}): ModuleFixtures => ({
    module,
    params: { widgetId: async () => ({ id: "wid_1", owner: { kind: "service", token: "", actorId: "", label: "" } }) },
    ...fixtures,
  });

  it("are found beside each module of the plane and merged, one owner per parameter", () => {
    expect(fixtureFileOf("tenancy")).toMatch(/src\/modules\/tenancy\/fixtures\.ts$/);
    expect(fixtureFileOf("probe")).toMatch(/src\/testing\/probe\/fixtures\.ts$/);
    expect(fixtureFileOf("leaky")).toBeNull();
    for (const param of ["tenantId", "userId", "membershipId", "auditSchemaId", "eventId", "endpointId", "itemId"]) {
      expect(ISOLATION_REGISTRY.params[param], param).toBeTypeOf("function");
    }
    expect(Object.keys(ISOLATION_REGISTRY.operatorParams).sort()).toEqual(
      ["backupId", "environmentId", "keyId", "operatorId", "projectId", "surfaceId", "tokenId"].sort(),
    );
  });

  it("refuses two modules claiming the same parameter or route key", () => {
    expect(() => mergeModuleFixtures([widgets("one"), widgets("two")])).toThrow(
      'Modules "one" and "two" both claim params :widgetId',
    );
    const body = { "POST /v1/widgets": () => ({}) };
    expect(() =>
      mergeModuleFixtures([
        widgets("one", { bodies: body }),
        { module: "two", factExclusions: { "POST /v1/widgets": "a test" } },
      ]),
    ).toThrow('Modules "one" and "two" both claim route POST /v1/widgets');
    // One module may speak for its route in several tables.
    expect(() =>
      mergeModuleFixtures([widgets("one", { bodies: body, factExclusions: { "POST /v1/widgets": "a test" } })]),
    ).not.toThrow();
  });

  it("refuses a module's fixture for a route another module registers", () => {
    const owners = new Map([["POST /v1/widgets", "one"]]);
    expect(() => mergeModuleFixtures([{ module: "two", bodies: { "POST /v1/widgets": () => ({}) } }], owners)).toThrow(
      'Module "two" has fixtures for route POST /v1/widgets, which module "one" registers',
    );
  });
});

// A test that cannot fail is a defect: a module with the classic isolation bugs, which the runner
// must catch, each one.
interface Item {
  id: string;
  name: string;
  environment_id: string;
}

const leakyModule = defineModule<ModuleContext>({
  name: "leaky",
  dependsOn: [],
  migrations: [],
  createService: (ctx) => ctx,
  routes: (ctx) => {
    const items = () => ctx.db.typed<{ probe_item: Item }>();
    const service = { actorTypes: ["service"] } as const;
    const params = z.strictObject({ itemId: z.string().max(64) });
    const item = z.object({ id: z.string(), name: z.string() });
    return [
      // Reads by id without the environment.
      defineRoute({
        method: "GET",
        url: "/v1/leaky/items/:itemId",
        operationId: "leakyGet",
        summary: "leaky read",
        tags: ["Leaky"],
        auth: service,
        params,
        response: { status: 200, schema: item, description: "item" },
        handler: async ({ params: p }) => {
          const row = await items().selectFrom("probe_item").selectAll().where("id", "=", p.itemId).executeTakeFirst();
          if (!row) throw new AppError(ProbeErrors.probe_item_not_found);
          return { id: row.id, name: row.name };
        },
      }),
      // Writes first, checks the environment after (outside a transaction): 404, but the harm is done.
      defineRoute({
        method: "POST",
        url: "/v1/leaky/items/:itemId/touch",
        operationId: "leakyTouch",
        summary: "leaky write",
        tags: ["Leaky"],
        auth: service,
        params,
        response: { status: 200, schema: item, description: "item" },
        handler: async ({ params: p, principal }) => {
          await items().updateTable("probe_item").set({ name: "touched" }).where("id", "=", p.itemId).execute();
          const row = await items()
            .selectFrom("probe_item")
            .selectAll()
            .where("id", "=", p.itemId)
            .where("environment_id", "=", principal?.environmentId ?? "")
            .executeTakeFirst();
          if (!row) throw new AppError(ProbeErrors.probe_item_not_found);
          return { id: row.id, name: row.name };
        },
      }),
      // Lists every environment's items.
      defineRoute({
        method: "GET",
        url: "/v1/leaky/items",
        operationId: "leakyList",
        summary: "leaky list",
        tags: ["Leaky"],
        auth: service,
        query: z.strictObject({ limit: z.string().optional() }),
        response: { status: 200, schema: pageSchema(item), description: "items" },
        handler: async () => {
          const rows = await items().selectFrom("probe_item").selectAll().execute();
          return { data: rows.map((r) => ({ id: r.id, name: r.name })), hasMore: false, nextCursor: null };
        },
      }),
      // Believes an environmentId from the body.
      defineRoute({
        method: "POST",
        url: "/v1/leaky/items",
        operationId: "leakyCreate",
        summary: "leaky create",
        tags: ["Leaky"],
        auth: service,
        body: z.object({ name: z.string(), environmentId: z.string().optional() }),
        response: { status: 201, schema: item, description: "item" },
        handler: async ({ body, principal }) => {
          const row = {
            id: `tit_${Date.now()}${Math.random().toString(36).slice(2, 8)}`,
            name: body.name,
            environment_id: body.environmentId ?? principal?.environmentId ?? "",
            created_at: Date.now(),
          };
          await ctx.db.kysely.insertInto("probe_item").values(row).execute();
          return { id: row.id, name: row.name };
        },
      }),
    ];
  },
});

describeEachEngine("isolation runner catches", (engine) => {
  let w: IsolationWorld;
  let plans: Map<string, RoutePlan>;
  beforeAll(async () => {
    w = await createIsolationWorld(engine, { extraModules: [leakyModule] });
    const routes = w.t.app.http.routes.filter((r) => r.url.startsWith("/v1/leaky"));
    plans = new Map(planIsolation(routes, w.registry).routes.map((p) => [p.key, p]));
  });
  afterAll(async () => w?.close());

  const plan = (key: string) => {
    const p = plans.get(key);
    if (!p) throw new Error(`no plan for ${key}`);
    return p;
  };

  it("a read by id that ignores the environment (BOLA)", async () => {
    await expect(checkCrossEnvironment(w, plan("GET /v1/leaky/items/:itemId"))).rejects.toThrow(/answered 200/);
  });

  it("a write that answers 404 after changing another environment's row", async () => {
    await expect(checkCrossEnvironment(w, plan("POST /v1/leaky/items/:itemId/touch"))).rejects.toThrow(
      /changed the database/,
    );
  });

  it("a list that returns another environment's rows", async () => {
    await expect(checkListIsolation(w, plan("GET /v1/leaky/items"))).rejects.toThrow(/returned A's data/);
  });

  it("an environmentId taken from the body", async () => {
    await expect(checkSmuggledScope(w, plan("POST /v1/leaky/items"))).rejects.toThrow(/changed A's rows/);
  });
});

function fakeRoute(method: "GET" | "POST", url: string, auth: RouteDefinition["auth"]): RouteDefinition {
  return defineRoute({
    method,
    url,
    operationId: url,
    summary: "fake",
    tags: [],
    auth,
    response: { status: 200, schema: z.object({}), description: "fake" },
    handler: async () => ({}),
  });
}
