import type { ZodType } from "zod";
import type { RouteDefinition } from "../../platform/http/route.js";

/**
 * Hostile inputs for every route (security issue class 3, DESIGN.md §7: "No route answers 5xx to
 * any input a client can send"): the generators the input sweep and the route fuzzer share. Each
 * takes a route, the ids of real objects for its path and a valid body, and returns the requests
 * an attacker would send: JSON nested 5,000 deep in each field position, lone UTF-16 surrogates and
 * NUL in every string of the body and in path and query parameters, a 20 KB query string and a
 * 20 KB single parameter, SSRF host spellings in every URL field, and the body without each of its
 * required fields. Generators are derived from the route's schemas alone: a new route gets them all.
 */

/** GeneratorName names one family of hostile requests. */
export type GeneratorName =
  | "deep_body"
  | "surrogate_body"
  | "nul_body"
  | "hostile_path"
  | "hostile_query"
  | "huge_query"
  | "ssrf_url"
  | "missing_field"
  | "missing_tenant";

/** HostileRequest is one request a generator makes, and what its answer must be. */
export interface HostileRequest {
  generator: GeneratorName;
  /** what says what is hostile about it, for failure messages. */
  what: string;
  method: string;
  /** url is the request target, query string included, already percent-encoded. */
  url: string;
  /** payload is the raw JSON text of the body (absent: no body). */
  payload?: string;
  /** refused: the answer must be a 4xx (otherwise any answer below 500 will do). */
  refused: boolean;
  /** names: a refusal must name this field (a field error's path, or the detail). */
  names?: string;
  /** code: a refusal must carry this problem code. */
  code?: string;
  /**
   * ignorable: the hostile part is a parameter the route does not know, which it may ignore and
   * answer as usual (a stream route would then never end: the sweep does not send these to one).
   */
  ignorable?: boolean;
  /** asTenantMember: send it with a session of a tenant member instead of the route's caller. */
  asTenantMember?: boolean;
}

/** RouteInput is what the generators build on: a route, ids for its path, and a valid body. */
export interface RouteInput {
  route: RouteDefinition;
  ids: Record<string, string>;
  /** body is a valid body of the route (undefined: the route takes none). */
  body: unknown;
}

/** LONE_SURROGATES are the two halves of a surrogate pair, each invalid alone. */
export const LONE_SURROGATES = ["\ud800", "\udfff"] as const;
/** BAD_TEXT are the characters no engine stores as text: lone surrogates and NUL. */
export const BAD_TEXT = [...LONE_SURROGATES, "\u0000"] as const;
/** BAD_TEXT_IN_URL: the same, as a client puts them in a URL (CESU-8 surrogates, `%00`). */
export const BAD_TEXT_IN_URL = ["%ED%A0%80", "%ED%BF%BF", "%00"] as const;

/** DEEP_LEVELS is how deeply the deep generator nests (the plane refuses past MAX_JSON_DEPTH). */
export const DEEP_LEVELS = 5_000;
/** DEEP is a JSON value nested DEEP_LEVELS deep, objects and arrays alternating, as text. */
export const DEEP = `${'[{"a":'.repeat(DEEP_LEVELS / 2)}1${"}]".repeat(DEEP_LEVELS / 2)}`;

/** HUGE is the length of the huge query string and of the huge single parameter (20 KB). */
export const HUGE = 20_000;

/**
 * SSRF_URLS are spellings of a loopback or intranet host that a naive host check lets through:
 * trailing dots, case, short and hex IPv4, IPv4-mapped IPv6, percent-escapes, and IDNA labels
 * (`xn--localhost-` is the A-label whose Unicode form is `localhost`).
 */
export const SSRF_URLS = [
  "http://localhost./",
  "http://foo.localhost./",
  "http://intranet./",
  "http://LOCALHOST/",
  "http://127.1/",
  "http://0x7f000001/",
  "http://2130706433/",
  "http://[::ffff:127.0.0.1]/",
  "http://[::1]/",
  "http://%6c%6f%63%61%6c%68%6f%73%74/",
  "http://\u24dbocalhost/",
  "http://localhost\u3002/",
  "http://xn--localhost-/",
  "http://foo.xn--localhost-/",
  "http://xn--localhost-.xn--localhost-./",
  "http://169.254.169.254/latest/meta-data/",
] as const;

/**
 * REFUSED_BODY is a body every route refuses (a JSON array: no route takes one, and a route without
 * a body refuses a non-empty one). A hostile query on a route that reads no query is sent with it,
 * so the request exercises the parser and changes nothing.
 */
export const REFUSED_BODY = '["sweep"]';

interface Def {
  type: string;
  [key: string]: unknown;
}

function defOf(schema: ZodType): Def {
  return (schema as unknown as { _zod: { def: Def } })._zod.def;
}

/** objectShape returns the fields of an object schema (through optional, default, pipe…), or null. */
export function objectShape(schema: ZodType | undefined): Record<string, ZodType> | null {
  let s = schema;
  for (let i = 0; s && i < 10; i++) {
    const def = defOf(s);
    if (def.type === "object") return def.shape as Record<string, ZodType>;
    if (def.type === "pipe") s = def.in as ZodType;
    else if ("innerType" in def) s = def.innerType as ZodType;
    else return null;
  }
  return null;
}

/** requiredFields lists the top-level body fields a route's schema requires (absent: refused). */
export function requiredFields(route: RouteDefinition): string[] {
  const shape = objectShape(route.body);
  if (!shape) return [];
  return Object.entries(shape)
    .filter(([, field]) => !field.safeParse(undefined).success)
    .map(([key]) => key);
}

/** queryFields lists the fields of a route's query schema (empty: it reads no query). */
export function queryFields(route: RouteDefinition): string[] {
  return Object.keys(objectShape(route.query) ?? {});
}

const URL_NAME = /(^|[a-z_])(url|uri|href|endpoint)$/i;
const URL_DESCRIPTION = /\b(url|uri)\b/i;

/**
 * urlFields lists the top-level body fields that hold a URL: by name (`url`, `callbackUrl`,
 * `redirect_uri`) or by the schema's description ("http(s) URL receiving POSTs").
 */
export function urlFields(route: RouteDefinition): string[] {
  const shape = objectShape(route.body);
  if (!shape) return [];
  return Object.entries(shape)
    .filter(([key, field]) => URL_NAME.test(key) || URL_DESCRIPTION.test(descriptionOf(field)))
    .map(([key]) => key);
}

function descriptionOf(schema: ZodType): string {
  let s: ZodType | undefined = schema;
  for (let i = 0; s && i < 10; i++) {
    if (s.description) return s.description;
    const def = defOf(s);
    s = (def.innerType ?? def.in) as ZodType | undefined;
  }
  return "";
}

/** stringLeaves lists the dotted path of every string in a value (arrays by index). */
export function stringLeaves(value: unknown, path = ""): string[] {
  if (typeof value === "string") return [path];
  if (value === null || typeof value !== "object") return [];
  return Object.entries(value).flatMap(([k, v]) => stringLeaves(v, path ? `${path}.${k}` : k));
}

/** setAt returns a copy of `value` with the dotted `path` set to `to`. */
function setAt(value: unknown, path: string, to: unknown): unknown {
  const [head, ...rest] = path.split(".");
  const key = head as string;
  const copy: Record<string, unknown> | unknown[] = Array.isArray(value)
    ? [...value]
    : { ...(value as Record<string, unknown>) };
  const next = rest.length === 0 ? to : setAt((copy as Record<string, unknown>)[key], rest.join("."), to);
  (copy as Record<string, unknown>)[key] = next;
  return copy;
}

/** mapStrings returns a copy of `value` with `f` applied to every string. */
function mapStrings(value: unknown, f: (s: string) => string): unknown {
  if (typeof value === "string") return f(value);
  if (Array.isArray(value)) return value.map((v) => mapStrings(v, f));
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, mapStrings(v, f)]));
  }
  return value;
}

const MARK = "\u0001sweep-raw\u0001";

/** withRaw serialises `value` with the JSON text `raw` in place of the string MARK. */
function withRaw(value: unknown, raw: string): string {
  return JSON.stringify(value).replace(JSON.stringify(MARK), raw);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function pathOf(route: RouteDefinition, ids: Record<string, string>, raw: Record<string, string> = {}): string {
  return route.url.replace(/:([A-Za-z0-9_]+)/g, (_, name: string) => {
    if (raw[name] !== undefined) return raw[name];
    const id = ids[name];
    if (id === undefined) throw new Error(`No id for :${name} in ${route.url}`);
    return encodeURIComponent(id);
  });
}

/** deepBodies: DEEP in each top-level field, one level inside each object or array field, and as the body. */
function deepBodies(input: RouteInput, url: string): HostileRequest[] {
  const { route, body } = input;
  // A streamed body (an upload) is bytes the route stores as they are, never parsed as JSON.
  if (route.method === "GET" || route.requestStream) return [];
  const base = isObject(body) ? body : {};
  const positions: Array<[string, unknown]> = Object.keys(base).map((k) => [`body.${k}`, { ...base, [k]: MARK }]);
  for (const [k, v] of Object.entries(base)) {
    if (Array.isArray(v)) positions.push([`body.${k}.0`, { ...base, [k]: [MARK, ...v] }]);
    else if (isObject(v)) positions.push([`body.${k}.sweep`, { ...base, [k]: { ...v, sweep: MARK } }]);
  }
  if (positions.length === 0) positions.push(["body.sweep", { sweep: MARK }]);
  const requests = positions.map(([at, value]) => ({ at, payload: withRaw(value, DEEP) }));
  requests.push({ at: "body", payload: DEEP });
  return requests.map(({ at, payload }) => ({
    generator: "deep_body" as const,
    what: `JSON nested ${DEEP_LEVELS} deep at ${at}`,
    method: route.method,
    url,
    payload,
    refused: true,
    code: "validation_failed",
  }));
}

/**
 * badTextBodies: a lone surrogate or NUL appended to each string of the body in turn (cycling
 * through BAD_TEXT), each of BAD_TEXT in every string at once, and in a key at the top level and
 * inside each object field. Lone surrogates go under `surrogate_body`, NUL under `nul_body`.
 */
function badTextBodies(input: RouteInput, url: string): HostileRequest[] {
  const { route, body } = input;
  if (route.method === "GET" || route.requestStream) return [];
  const out: HostileRequest[] = [];
  const generatorOf = (c: string) => (c === "\u0000" ? "nul_body" : "surrogate_body");
  const label = (c: string) => `U+${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, "0")}`;
  stringLeaves(body).forEach((leaf, i) => {
    const c = BAD_TEXT[i % BAD_TEXT.length] as string;
    const path = `body.${leaf}`;
    const value = setAt(body, leaf, `x${c}y`);
    out.push({
      generator: generatorOf(c),
      what: `${label(c)} in ${path}`,
      method: route.method,
      url,
      payload: JSON.stringify(value),
      refused: true,
      names: path,
    });
  });
  const base = isObject(body) ? body : {};
  for (const c of BAD_TEXT) {
    if (stringLeaves(body).length > 0) {
      out.push({
        generator: generatorOf(c),
        what: `${label(c)} in every string of the body`,
        method: route.method,
        url,
        payload: JSON.stringify(mapStrings(body, (s) => `${s}${c}`)),
        refused: true,
      });
    }
  }
  out.push({
    generator: "surrogate_body",
    what: "U+D800 in a top-level key",
    method: route.method,
    url,
    payload: JSON.stringify({ ...base, [`k${LONE_SURROGATES[0]}`]: "x" }),
    refused: true,
  });
  for (const [k, v] of Object.entries(base)) {
    if (!isObject(v)) continue;
    out.push({
      generator: "surrogate_body",
      what: `U+DFFF in a key of body.${k}`,
      method: route.method,
      url,
      payload: JSON.stringify({ ...base, [k]: { ...v, [`k${LONE_SURROGATES[1]}`]: "x" } }),
      refused: true,
    });
  }
  return out;
}

/** hostilePaths: each path parameter in turn as a surrogate or NUL (a real id with a NUL appended too). */
function hostilePaths(input: RouteInput, payload: string | undefined): HostileRequest[] {
  const { route, ids } = input;
  return Object.keys(ids).flatMap((name) =>
    [...BAD_TEXT_IN_URL, `${encodeURIComponent(ids[name] as string)}%00`].map((raw) => ({
      generator: "hostile_path" as const,
      what: `:${name} = ${raw}`,
      method: route.method,
      url: pathOf(route, ids, { [name]: raw }),
      ...(payload !== undefined ? { payload } : {}),
      refused: true,
    })),
  );
}

/**
 * hostileQueries: each query field (and an unknown one) as a surrogate or NUL, and the 20 KB query
 * string and single parameter. Refusal is not required (a search may find nothing), only a
 * problem for every 4xx and no 5xx.
 */
function hostileQueries(input: RouteInput, url: string, payload: string | undefined): HostileRequest[] {
  const { route } = input;
  const fields = [...queryFields(route), "sweep"];
  const out: HostileRequest[] = [];
  const known = new Set(queryFields(route));
  const send = (generator: GeneratorName, what: string, query: string, field?: string): HostileRequest => ({
    generator,
    what,
    method: route.method,
    url: `${url}?${query}`,
    ...(payload !== undefined ? { payload } : {}),
    refused: false,
    ...(field !== undefined && known.has(field) ? {} : { ignorable: true }),
  });
  fields.forEach((field, i) => {
    for (const raw of BAD_TEXT_IN_URL) out.push(send("hostile_query", `?${field}=${raw}`, `${field}=x${raw}`, field));
    out.push(send("huge_query", `?${field}= 20 KB`, `${field}=${"x".repeat(HUGE)}`, field));
    if (i === 0) {
      const many = Array.from({ length: 20 }, (_, n) => `sweep${n}=${"q".repeat(HUGE / 20 - 8)}`).join("&");
      out.push(send("huge_query", "a 20 KB query string of 20 parameters", many));
    }
  });
  return out;
}

/** ssrfBodies: each SSRF spelling in each URL field of the body. */
function ssrfBodies(input: RouteInput, url: string): HostileRequest[] {
  const { route, body } = input;
  if (!isObject(body)) return [];
  return urlFields(route).flatMap((field) =>
    SSRF_URLS.map((target) => ({
      generator: "ssrf_url" as const,
      what: `body.${field} = ${target}`,
      method: route.method,
      url,
      payload: JSON.stringify({ ...body, [field]: target }),
      refused: true,
      names: `body.${field}`,
    })),
  );
}

/** missingFields: the body without each required field in turn: a 400 that names it. */
function missingFields(input: RouteInput, url: string): HostileRequest[] {
  const { route, body } = input;
  if (!isObject(body)) return [];
  return requiredFields(route).map((field) => {
    const { [field]: _dropped, ...rest } = body;
    return {
      generator: "missing_field" as const,
      what: `body without ${field}`,
      method: route.method,
      url,
      payload: JSON.stringify(rest),
      refused: true,
      names: `body.${field}`,
    };
  });
}

/**
 * missingTenant: a user acts within a tenant, so on a route that lets sessions in and takes a
 * `tenantId` (body or query), a session that names none is told to name it: a 400 naming
 * `tenantId` (not a 403, which would send the client looking for a permission it has).
 */
function missingTenant(input: RouteInput, url: string): HostileRequest[] {
  const { route, body } = input;
  const types = typeof route.auth === "object" ? route.auth.actorTypes : [];
  if (types !== "any" && !types.includes("user")) return [];
  const out: HostileRequest[] = [];
  const inBody = isObject(body) && "tenantId" in (objectShape(route.body) ?? {});
  if (inBody) {
    const { tenantId: _dropped, ...rest } = body as Record<string, unknown>;
    out.push({
      generator: "missing_tenant",
      what: "a session's body without tenantId",
      method: route.method,
      url,
      payload: JSON.stringify(rest),
      refused: true,
      names: "body.tenantId",
      asTenantMember: true,
    });
  }
  if (queryFields(route).includes("tenantId")) {
    out.push({
      generator: "missing_tenant",
      what: "a session's query without tenantId",
      method: route.method,
      url,
      ...(route.method !== "GET" && body !== undefined ? { payload: JSON.stringify(body) } : {}),
      refused: true,
      names: "query.tenantId",
      asTenantMember: true,
    });
  }
  return out;
}

/**
 * hostileRequests returns every hostile request for one route. Requests whose hostile part is
 * the path carry the valid body (so only the path is wrong); those whose hostile part is the query
 * carry REFUSED_BODY on a route that takes a body or none (so nothing can change).
 */
export function hostileRequests(input: RouteInput): HostileRequest[] {
  const { route, body } = input;
  const url = pathOf(route, input.ids);
  const validPayload = route.method === "GET" || body === undefined ? undefined : JSON.stringify(body);
  const queryPayload = route.method === "GET" ? undefined : REFUSED_BODY;
  return [
    ...deepBodies(input, url),
    ...badTextBodies(input, url),
    ...hostilePaths(input, validPayload),
    ...hostileQueries(input, url, queryPayload),
    ...ssrfBodies(input, url),
    ...missingFields(input, url),
    ...missingTenant(input, url),
  ];
}

/** GENERATORS lists every generator name (the sweep checks each ran). */
export const GENERATORS: readonly GeneratorName[] = [
  "deep_body",
  "surrogate_body",
  "nul_body",
  "hostile_path",
  "hostile_query",
  "huge_query",
  "ssrf_url",
  "missing_field",
  "missing_tenant",
];
