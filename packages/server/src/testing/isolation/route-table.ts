import { MODULES } from "../../app.js";
import type { RouteDefinition } from "../../platform/http/route.js";
import type { AnyModule } from "../../platform/module.js";
import type { ActorType } from "../../platform/principal.js";
import { createTestApp } from "../harness.js";
import { probeModule } from "../probe/index.js";

/**
 * The route table as the isolation runner reads it: route keys, path parameters, which credential
 * kinds a route lets in. Everything the runner checks is derived from `app.http.routes`.
 */

/** CredentialKind is a credential the runner can present: plane operators and environment credentials. */
export type CredentialKind = "admin" | "support" | "service" | "user" | "tenant_key" | "agent" | "portal";

/** Credential: a token the runner presents, with the actor it resolves to. */
export interface Credential {
  kind: CredentialKind;
  token: string;
  /** actorId is the principal's actorId (key id, user id, operator id): what facts must record. */
  actorId: string;
  /** environmentId: the environment an operator acts in (sent as `Baseplate-Environment`). */
  environmentId?: string;
  label: string;
}

/** routeKey names a route as `METHOD /url` (Fastify style params), the key of every fixture table. */
export function routeKey(route: Pick<RouteDefinition, "method" | "url">): string {
  return `${route.method} ${route.url}`;
}

/** pathParams lists a route's path parameter names in URL order. */
export function pathParams(route: Pick<RouteDefinition, "url">): string[] {
  return [...route.url.matchAll(/:([A-Za-z0-9_]+)/g)].map((m) => m[1] as string);
}

/** fillUrl puts ids into a route's URL. Throws when one is missing. */
export function fillUrl(url: string, ids: Record<string, string>): string {
  return url.replace(/:([A-Za-z0-9_]+)/g, (_, name: string) => {
    const id = ids[name];
    if (id === undefined) throw new Error(`No id for :${name} in ${url}`);
    return encodeURIComponent(id);
  });
}

/** ENVIRONMENT_ACTOR_TYPES are the actor types bound to one environment (their data never crosses it). */
const ENVIRONMENT_ACTOR_TYPES: readonly ActorType[] = ["service", "user", "tenant_key", "agent"];

/** acceptedActorTypes lists the actor types a route lets in ("none": it reads no credential). */
export function acceptedActorTypes(route: RouteDefinition): readonly ActorType[] | "none" {
  if (route.auth === "none") return "none";
  if (route.auth === "optional" || route.auth.actorTypes === "any") {
    return ["service", "user", "tenant_key", "agent", "operator", "system"];
  }
  return route.auth.actorTypes;
}

/** acceptsEnvironmentCredentials: the route lets in at least one environment-bound actor type. */
export function acceptsEnvironmentCredentials(route: RouteDefinition): boolean {
  const types = acceptedActorTypes(route);
  return types !== "none" && types.some((t) => ENVIRONMENT_ACTOR_TYPES.includes(t));
}

/** isOperatorOnly: only plane operators may call the route (`auth: { actorTypes: ["operator"] }`). */
export function isOperatorOnly(route: RouteDefinition): boolean {
  return (
    typeof route.auth === "object" && route.auth.actorTypes !== "any" && route.auth.actorTypes.join() === "operator"
  );
}

/** isMutating: the route changes something (not a GET, not declared `readOnly`). */
export function isMutating(route: Pick<RouteDefinition, "method" | "readOnly">): boolean {
  return route.method !== "GET" && route.readOnly !== true;
}

/**
 * loadRouteTable builds the plane (shipped modules + the probe module) on a throwaway SQLite
 * database, without migrating, and returns its route table. Test files call it at the top level
 * so they can declare one test per route.
 */
export async function loadRouteTable(extraModules: AnyModule[] = []): Promise<RouteDefinition[]> {
  const t = await createTestApp("sqlite", { modules: planeModules(extraModules), migrate: false });
  try {
    return [...t.app.http.routes];
  } finally {
    await t.close();
  }
}

/** planeModules lists the modules of an isolation plane: the shipped ones, the probe, then `extra`. */
export function planeModules(extra: readonly AnyModule[] = []): AnyModule[] {
  return [...MODULES, probeModule, ...extra];
}
