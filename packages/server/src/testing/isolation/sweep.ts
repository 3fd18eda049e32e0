import { monitorEventLoopDelay } from "node:perf_hooks";
import type { RouteDefinition } from "../../platform/http/route.js";
import type { IsolationRegistry } from "../module-fixtures.js";
import { type GeneratorName, type HostileRequest, hostileRequests } from "./hostile.js";
import { bodyFor, createParams, environmentCredentials, idsOf } from "./refusals.js";
import { acceptedActorTypes, type Credential, isOperatorOnly, pathParams, routeKey } from "./route-table.js";
import { countRows, stateTables } from "./snapshots.js";
import type { IsolationWorld } from "./world.js";

/**
 * The input sweep: every route of the table, called by a credential it accepts on real objects
 * (the isolation fixtures make them), receives every hostile request of `hostile.ts` in one
 * concurrent batch, with a `/healthz` alongside. No answer may be a 5xx; every 4xx is a problem
 * document; a request that must be refused is, naming the field it must name; the batch changes
 * no row and records no fact; the event loop never stalls.
 */

/** SweepFailure is one broken promise of the sweep, by route and generator. */
export interface SweepFailure {
  route: string;
  generator: GeneratorName | "unchanged" | "event_loop";
  what: string;
  detail: string;
}

/** SweepResult: what one route's sweep found and measured. */
export interface SweepResult {
  failures: SweepFailure[];
  generators: Set<GeneratorName>;
  requests: number;
  /** healthzMs: how long a `/healthz` sent alongside the batch took. */
  healthzMs: number;
}

/** SweepLimits bound the sweep's timing promises. */
export interface SweepLimits {
  /** requestMs: one request's answer (a route that never answers, e.g. a stream let through). */
  requestMs: number;
  /** healthzMs: the `/healthz` sent alongside the batch. */
  healthzMs: number;
}

export const SWEEP_LIMITS: SweepLimits = { requestMs: 10_000, healthzMs: 1_000 };

/** SweepTarget: how one route is called: the credential, its path ids and a valid body. */
interface SweepTarget {
  caller: Credential | null;
  ids: Record<string, string>;
  body: unknown;
}

/** SweepContext carries what routes share: ids per parameter list, fresh sessions, table names. */
export interface SweepContext {
  w: IsolationWorld;
  registry: IsolationRegistry;
  ids: Map<string, { ids: Record<string, string>; owner: Credential | null }>;
  tables?: string[];
}

/** newSweepContext starts a sweep over the world `w` with its fixtures. */
export function newSweepContext(w: IsolationWorld, registry: IsolationRegistry = w.registry): SweepContext {
  return { w, registry, ids: new Map() };
}

/**
 * targetOf decides how to call a route: objects from the fixtures (the operator's on operator
 * routes, environment A's otherwise; ids that name nothing on a documented exclusion), called by
 * their owner when the route lets it in, else by a credential the route accepts. A route only for
 * sessions without an object gets a fresh session (the sweep may not log out the world's users).
 */
async function targetOf(ctx: SweepContext, route: RouteDefinition): Promise<SweepTarget> {
  const { w, registry } = ctx;
  const params = pathParams(route);
  const key = `${isOperatorOnly(route) ? "operator" : "environment"}:${params.join(",")}`;
  let made = ctx.ids.get(key);
  if (!made) {
    if (params.length === 0) made = { ids: {}, owner: null };
    else if (isOperatorOnly(route)) {
      const ids: Record<string, string> = {};
      for (const p of params) {
        const fixture = registry.operatorParams[p];
        ids[p] = fixture ? await fixture(w) : `sweep_${p}`;
      }
      made = { ids, owner: w.admin };
    } else if (params.every((p) => registry.params[p])) {
      const objects = await createParams(w, w.a, params, registry);
      made = { ids: idsOf(objects), owner: objects[params[params.length - 1] as string]?.owner ?? null };
    } else {
      made = { ids: Object.fromEntries(params.map((p) => [p, `sweep_${p}`])), owner: null };
    }
    ctx.ids.set(key, made);
  }
  const types = acceptedActorTypes(route);
  let caller: Credential | null = null;
  if (types !== "none") {
    const owner = made.owner;
    const ownerType = owner?.kind === "admin" || owner?.kind === "support" ? "operator" : owner?.kind;
    if (owner && ownerType && types.includes(ownerType as never)) caller = owner;
    else if (isOperatorOnly(route)) caller = w.admin;
    else if (types.length === 1 && types[0] === "user") caller = await w.newUser(w.a, "sweeper");
    else caller = environmentCredentials(w.a, route)[0] ?? w.a.key;
  }
  const body = route.body ? await bodyFor(w, route, made.ids, registry) : undefined;
  return { caller, ids: made.ids, body };
}

/** counts counts the rows of every table, with the number of facts recorded. */
async function counts(ctx: SweepContext): Promise<string> {
  ctx.tables ??= await stateTables(ctx.w.t);
  return `facts=${ctx.w.captured.length} ${await countRows(ctx.w.t, ctx.tables)}`;
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

interface Answer {
  status: number;
  contentType: string;
  body: string;
}

/** names reports whether a problem names `field`: a field error on it (or inside it), or the detail. */
function names(body: string, field: string): boolean {
  let problem: { detail?: string; errors?: Array<{ path?: string }> };
  try {
    problem = JSON.parse(body);
  } catch {
    return false;
  }
  const related = (path: string) =>
    path === field || path.startsWith(`${field}.`) || (field.startsWith(`${path}.`) && path.includes("."));
  return (problem.errors ?? []).some((e) => related(e.path ?? "")) || (problem.detail ?? "").includes(field);
}

/** judge lists what is wrong with one answer to one hostile request. */
function judge(request: HostileRequest, answer: Answer): string | null {
  const { status } = answer;
  const brief = `${status} ${answer.body.slice(0, 240)}`;
  if (status >= 500) return `answered ${brief}`;
  if (status >= 400 && !answer.contentType.startsWith("application/problem+json")) {
    return `answered ${status} as ${answer.contentType || "no content type"}, not a problem: ${answer.body.slice(0, 120)}`;
  }
  if (request.refused && status < 400) return `was let through: ${brief}`;
  if (request.code && status >= 400 && !answer.body.includes(`"code":"${request.code}"`)) {
    return `was refused without the code ${request.code}: ${brief}`;
  }
  if (request.names && status >= 400 && !names(answer.body, request.names)) {
    return `was refused without naming ${request.names}: ${brief}`;
  }
  return null;
}

/**
 * sweepRoute sends one route every hostile request in one concurrent batch, with a `/healthz`
 * alongside, and reports every broken promise (it throws only when the world cannot be set up).
 */
export async function sweepRoute(
  ctx: SweepContext,
  route: RouteDefinition,
  limits: SweepLimits = SWEEP_LIMITS,
): Promise<SweepResult> {
  const { w } = ctx;
  const key = routeKey(route);
  const target = await targetOf(ctx, route);
  // An ignored parameter would open a stream that never ends: streams get the others only.
  const stream = ctx.registry.streams?.[key] !== undefined;
  const requests = hostileRequests({ route, ids: target.ids, body: target.body }).filter(
    (r) => !(stream && r.ignorable),
  );
  const failures: SweepFailure[] = [];
  const before = await counts(ctx);
  const send = async (request: HostileRequest): Promise<void> => {
    const caller = request.asTenantMember ? w.a.user : target.caller;
    const headers: Record<string, string> = {};
    if (caller) headers.authorization = `Bearer ${caller.token}`;
    if (request.payload !== undefined) headers["content-type"] = "application/json";
    try {
      const res = await withTimeout(
        w.t.inject({
          method: request.method as "GET",
          url: request.url,
          headers,
          ...(request.payload !== undefined ? { payload: request.payload } : {}),
        }),
        limits.requestMs,
        request.what,
      );
      const wrong = judge(request, {
        status: res.statusCode,
        contentType: String(res.headers["content-type"] ?? ""),
        body: res.body,
      });
      if (wrong) failures.push({ route: key, generator: request.generator, what: request.what, detail: wrong });
    } catch (err) {
      failures.push({ route: key, generator: request.generator, what: request.what, detail: (err as Error).message });
    }
  };
  const healthz = async (): Promise<number> => {
    const started = performance.now();
    const res = await w.t.inject({ method: "GET", url: "/healthz" });
    if (res.statusCode !== 200) {
      failures.push({ route: key, generator: "event_loop", what: "/healthz alongside", detail: `${res.statusCode}` });
    }
    return performance.now() - started;
  };
  const [healthzMs] = await Promise.all([healthz(), ...requests.map(send)]);
  if (healthzMs > limits.healthzMs) {
    failures.push({
      route: key,
      generator: "event_loop",
      what: "/healthz alongside the batch",
      detail: `took ${Math.round(healthzMs)} ms (limit ${limits.healthzMs} ms)`,
    });
  }
  const after = await counts(ctx);
  if (after !== before) {
    const b = new Set(before.split(" "));
    failures.push({
      route: key,
      generator: "unchanged",
      what: "the batch of hostile requests",
      detail: `changed the database: ${after
        .split(" ")
        .filter((c) => !b.has(c))
        .join(" ")} (before: ${before
        .split(" ")
        .filter((c) => !after.split(" ").includes(c))
        .join(" ")})`,
    });
  }
  return {
    failures,
    generators: new Set(requests.map((r) => r.generator)),
    requests: requests.length,
    healthzMs,
  };
}

/** EventLoopWatch measures the longest event-loop stall since its last reset. */
export interface EventLoopWatch {
  /**
   * reset starts a new measurement. It waits a few samples: the first sample after a reset only
   * sets the baseline, so a stall right after it would go unseen.
   */
  reset(): Promise<void>;
  /**
   * maxMs is the longest stall since the last reset, in milliseconds. It waits a few samples
   * first: a stall is recorded when the sampling timer runs after it.
   */
  maxMs(): Promise<number>;
  stop(): void;
}

/** watchEventLoop starts measuring event-loop delay (perf_hooks, 10 ms resolution). */
export function watchEventLoop(): EventLoopWatch {
  const h = monitorEventLoopDelay({ resolution: 10 });
  const samples = () => new Promise((resolve) => setTimeout(resolve, 25));
  h.enable();
  return {
    reset: async () => {
      h.reset();
      await samples();
    },
    maxMs: async () => {
      await samples();
      return h.max / 1e6;
    },
    stop: () => h.disable(),
  };
}
