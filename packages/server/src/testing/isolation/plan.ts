import type { RouteDefinition } from "../../platform/http/route.js";
import type { IsolationRegistry } from "../module-fixtures.js";
import { sampleBody } from "./bodies.js";
import { acceptsEnvironmentCredentials, isOperatorOnly, pathParams, routeKey } from "./route-table.js";

/**
 * The plan: which isolation checks apply to each route, and every route that cannot be checked
 * (a path parameter without a fixture, a credential kind without one, a body it cannot build), so
 * the suite fails until the module that owns the route adds the fixture.
 */

/** CheckName names one isolation check (see `checks.ts`). */
export type CheckName =
  | "cross_environment"
  | "list_isolation"
  | "smuggled_scope"
  | "function_level"
  | "operator_support";

/** RoutePlan: the checks that apply to one route, and its path parameters in URL order. */
export interface RoutePlan {
  route: RouteDefinition;
  key: string;
  params: string[];
  checks: CheckName[];
}

/** IsolationPlan: every checkable route's plan, and every problem that keeps a route unchecked. */
export interface IsolationPlan {
  routes: RoutePlan[];
  /** problems: why a route cannot be checked (missing fixture, unknown credential kind, no body). */
  problems: string[];
  /** pathParamRoutes: every route key with path params. */
  pathParamRoutes: string[];
  /** excluded: route keys with path params checked by none of the isolation checks, documented. */
  excluded: string[];
}

/**
 * planIsolation decides, for every route of the table, which checks apply, and reports every
 * route it cannot check. A route with path params must be cross-environment checked (it accepts
 * environment credentials), operator-checked (operator-only), or listed in `registry.excluded`.
 */
export function planIsolation(routes: readonly RouteDefinition[], registry: IsolationRegistry): IsolationPlan {
  const problems: string[] = [];
  const plans: RoutePlan[] = [];
  const pathParamRoutes: string[] = [];
  const excluded: string[] = [];
  for (const route of routes) {
    const key = routeKey(route);
    const params = pathParams(route);
    const checks: CheckName[] = [];
    const environmentRoute = acceptsEnvironmentCredentials(route);
    if (params.length > 0) pathParamRoutes.push(key);
    if (environmentRoute) {
      if (registry.streams?.[key]) {
        // A stream never ends: its isolation is checked by its own tests (see `streams`).
      } else if (params.length > 0) {
        checks.push("cross_environment");
        for (const p of params) {
          if (!registry.params[p]) problems.push(`${key}: no fixture for path parameter :${p} (add it to params)`);
        }
      } else if (route.method === "GET") {
        checks.push("list_isolation");
      }
      if (!registry.streams?.[key]) checks.push("smuggled_scope");
    }
    if (typeof route.auth === "object" && route.auth.actorTypes !== "any") checks.push("function_level");
    if (isOperatorOnly(route)) {
      checks.push("operator_support");
      for (const p of params) {
        if (!registry.operatorParams[p]) {
          problems.push(`${key}: no operator fixture for path parameter :${p} (add it to operatorParams)`);
        }
      }
    }
    if (params.length > 0 && !checks.includes("cross_environment") && !checks.includes("operator_support")) {
      if (registry.excluded[key]) excluded.push(key);
      else
        problems.push(
          `${key}: has path parameters but no isolation check applies; add fixtures or document an exclusion`,
        );
    }
    if (route.body && !registry.bodies[key] && checks.length > 0) {
      try {
        sampleBody(route);
      } catch (err) {
        problems.push((err as Error).message);
      }
    }
    if (checks.length > 0) plans.push({ route, key, params, checks });
  }
  return { routes: plans, problems, pathParamRoutes, excluded };
}
