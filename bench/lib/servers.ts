import { isRecord, runChild, startChild } from "./child.js";
import type { Timing } from "./options.js";
import { freePort } from "./ports.js";
import type { Resources } from "./resources.js";
import type { Measurement } from "./results.js";

/** Server is a started child process answering HTTP at `url`. */
export interface Server {
  url: string;
  /** pid of the child process (for CPU accounting). */
  pid: number | undefined;
  stop(): Promise<void>;
}

/** BaseplateDatabase selects the engine of a Baseplate child: a data dir, or a PostgreSQL schema. */
export type BaseplateDatabase =
  | { engine: "sqlite"; dataDir: string }
  | { engine: "postgres"; url: string; schema: string };

export interface BaseplateServer extends Server {
  /** token is a probe credential (every permission, environment `env_bench`). */
  token: string;
  /** env lists the `BASEPLATE_*` variables the child got; everything else is the default config. */
  env: Record<string, string>;
}

/** BenchPlane is what serve.ts seeds with `BENCH_PLANE=1` (see its file comment). */
export interface BenchPlane {
  operatorId: string;
  operatorToken: string;
  projectId: string;
  environmentId: string;
  surfaceId: string;
  /** secretKey: a `bp_sk_` token with scopes `["*"]`. */
  secretKey: string;
  secretKeyId: string;
  tenantId: string;
  userId: string;
  userEmail: string;
  userPassword: string;
  /** sessionToken: a `bp_st_` session of the user. */
  sessionToken: string;
  sessionId: string;
  /** membershipId: the user's membership (owner) in the tenant. */
  membershipId: string;
  /** tenantKey: a `bp_tk_` key of the tenant (`members:read`). */
  tenantKey: string;
  /** agentKey: a `bp_ak_` key delegated by the user (scope `members:*`). */
  agentKey: string;
  /** accessToken: a JWT access token of the user (one hour), from a second surface that issues them. */
  accessToken: string;
}

export interface BaseplatePlaneServer extends BaseplateServer {
  plane: BenchPlane;
  /** passwords is the child's password hashing config (profile `owasp` unless overridden). */
  passwords: { profile: string; concurrency: number };
}

/**
 * startBaseplate runs `packages/server/src/testing/serve.ts` (the plane plus the probe module) on
 * a free port, with warn-level logs and workers on, like production. Its stop is registered with
 * `resources`. `extraEnv` adds `BASEPLATE_*` variables (none by default: the default config, but
 * for rate limits raised beyond what a load generator reaches, see `BENCH_RATE_LIMITS`).
 */
export async function startBaseplate(
  resources: Resources,
  database: BaseplateDatabase,
  extraEnv: Record<string, string> = {},
): Promise<BaseplateServer> {
  const started = await spawnBaseplate(resources, database, { ...extraEnv, BENCH_PLANE: "0" }, isBaseplateReady);
  return { url: started.ready.url, pid: started.pid, token: started.ready.token, env: started.env, stop: started.stop };
}

/**
 * startBaseplatePlane is `startBaseplate` with the shipped domain modules registered and a plane
 * seeded (`BENCH_PLANE=1`: operator, project, environment, surface, secret key, one tenant, one
 * user with a password, one session), whose ids and tokens it returns in `plane`.
 */
export async function startBaseplatePlane(
  resources: Resources,
  database: BaseplateDatabase,
  extraEnv: Record<string, string> = {},
): Promise<BaseplatePlaneServer> {
  const started = await spawnBaseplate(resources, database, { ...extraEnv, BENCH_PLANE: "1" }, isPlaneReady);
  return {
    url: started.ready.url,
    pid: started.pid,
    token: started.ready.token,
    env: started.env,
    stop: started.stop,
    plane: started.ready.plane,
    passwords: started.ready.passwords,
  };
}

/**
 * BENCH_RATE_LIMITS keeps the rate limiter on (its cost is in every figure: each request spends
 * from its buckets and answers the RateLimit fields) with limits no scenario reaches, so a
 * scenario measures the plane, not 429s. Docs: docs/rate-limits.md.
 */
export const BENCH_RATE_LIMITS: Record<string, string> = Object.fromEntries(
  ["CREDENTIAL", "TENANT"].flatMap((scope) =>
    ["READ", "WRITE", "USAGE_INGEST"].map((surface) => [`BASEPLATE_RATE_LIMIT_${scope}_${surface}`, "999999999/1s"]),
  ),
);

async function spawnBaseplate<T extends ReadyLine>(
  resources: Resources,
  database: BaseplateDatabase,
  extraEnv: Record<string, string>,
  accept: (value: unknown) => value is T,
): Promise<{ ready: T; pid: number | undefined; env: Record<string, string>; stop: () => Promise<void> }> {
  const env: Record<string, string> = {
    BASEPLATE_HOST: "127.0.0.1",
    BASEPLATE_PORT: String(await freePort()),
    BASEPLATE_LOG_LEVEL: "warn",
    BASEPLATE_WORKERS: "true",
    BASEPLATE_SHUTDOWN_TIMEOUT_MS: "10000",
    ...BENCH_RATE_LIMITS,
    ...(database.engine === "sqlite"
      ? { BASEPLATE_DATA_DIR: database.dataDir }
      : { BASEPLATE_DATABASE_URL: database.url, BASEPLATE_DATABASE_SCHEMA: database.schema }),
    ...extraEnv,
  };
  const started = await startChild(
    resources,
    { name: `baseplate-${database.engine}`, script: "packages/server/src/testing/serve.ts", env },
    accept,
  );
  const shown = Object.fromEntries(Object.entries(env).filter(([key]) => key.startsWith("BASEPLATE_")));
  return { ready: started.ready, pid: started.handle.pid, env: shown, stop: started.stop };
}

/** BareStore is what the bare Fastify baseline's POST route inserts into (none: GET /healthz only). */
export type BareStore =
  | { store: "none" }
  | { store: "sqlite"; file: string }
  | { store: "postgres"; url: string; schema: string };

/**
 * BareJsonRoute is a GET (or POST) route of the bare Fastify baseline answering a fixed JSON document
 * (serialised per request, as a Fastify handler returning an object is), after checking that
 * `Authorization` is exactly `Bearer <bearer>` (401 otherwise) and that the path parameters equal
 * `params` (404 otherwise): the same route shape as Baseplate's, minus everything Baseplate does.
 */
export interface BareJsonRoute {
  /** path is a Fastify route pattern, e.g. `/v1/tenants/:tenantId`. */
  path: string;
  /** method: GET unless given; a POST route parses the JSON body as Fastify does, and ignores it. */
  method?: "GET" | "POST";
  bearer: string;
  params?: Record<string, string>;
  body: unknown;
}

/** startBareFastify runs `bench/processes/bare-fastify.ts` on a free port. */
export async function startBareFastify(
  resources: Resources,
  store: BareStore,
  routes: readonly BareJsonRoute[] = [],
): Promise<Server> {
  const args = ["--port", String(await freePort()), "--store", store.store];
  if (store.store === "sqlite") args.push("--file", store.file);
  if (store.store === "postgres") args.push("--url", store.url, "--schema", store.schema);
  if (routes.length > 0) args.push("--routes", JSON.stringify(routes));
  const started = await startChild(
    resources,
    { name: `bare-fastify-${store.store}`, script: "bench/processes/bare-fastify.ts", args },
    isReady,
  );
  return { url: started.ready.url, pid: started.handle.pid, stop: started.stop };
}

export type RawInsertMode =
  | { mode: "sqlite-autocommit"; file: string }
  | { mode: "sqlite-batched"; file: string; batch: number }
  | { mode: "pg-concurrent"; url: string; schema: string; concurrency: number };

/** runRawInserts runs `bench/processes/raw-inserts.ts` once and returns its rows/s measurement. */
export async function runRawInserts(resources: Resources, mode: RawInsertMode, timing: Timing): Promise<Measurement> {
  const args = ["--mode", mode.mode, "--duration", String(timing.durationS), "--warmup", String(timing.warmupS)];
  let detail: string;
  switch (mode.mode) {
    case "sqlite-autocommit":
      args.push("--file", mode.file);
      detail = "better-sqlite3, 1 row per autocommit INSERT, one loop";
      break;
    case "sqlite-batched":
      args.push("--file", mode.file, "--batch", String(mode.batch));
      detail = `better-sqlite3, ${mode.batch} rows per transaction`;
      break;
    case "pg-concurrent":
      args.push("--url", mode.url, "--schema", mode.schema, "--concurrency", String(mode.concurrency));
      detail = `pg pool of 10, ${mode.concurrency} concurrent single-row INSERT loops`;
      break;
  }
  const timeoutMs = (timing.durationS + timing.warmupS) * 1000 + 60_000;
  const { result } = await runChild(
    resources,
    { name: `raw-${mode.mode}`, script: "bench/processes/raw-inserts.ts", args },
    isRawResult,
    timeoutMs,
  );
  return {
    rate: result.durationS > 0 ? result.count / result.durationS : 0,
    unit: "rows/s",
    p50Ms: result.p50Ms,
    p99Ms: result.p99Ms,
    cpuUsPerOp: result.count > 0 ? (result.cpuMs * 1000) / result.count : null,
    count: result.count,
    failures: 0,
    durationS: result.durationS,
    detail,
  };
}

/**
 * runRawArgon2 runs `bench/processes/raw-argon2.ts` once: argon2id verifications of a right
 * password at `profile`, `concurrency` at once, no HTTP (the hardware ceiling of logins).
 */
export async function runRawArgon2(
  resources: Resources,
  options: { profile: string; concurrency: number },
  timing: Timing,
): Promise<Measurement> {
  const args = [
    "--profile",
    options.profile,
    "--concurrency",
    String(options.concurrency),
    "--duration",
    String(timing.durationS),
    "--warmup",
    String(timing.warmupS),
  ];
  const timeoutMs = (timing.durationS + timing.warmupS) * 1000 + 60_000;
  const { result } = await runChild(
    resources,
    { name: "raw-argon2", script: "bench/processes/raw-argon2.ts", args },
    isRawResult,
    timeoutMs,
  );
  return {
    rate: result.durationS > 0 ? result.count / result.durationS : 0,
    unit: "ops/s",
    p50Ms: result.p50Ms,
    p99Ms: result.p99Ms,
    cpuUsPerOp: result.count > 0 ? (result.cpuMs * 1000) / result.count : null,
    count: result.count,
    failures: 0,
    durationS: result.durationS,
    detail: `@node-rs/argon2 verify, profile ${options.profile}, ${options.concurrency} at once, no HTTP`,
  };
}

interface ReadyLine {
  ready: true;
  url: string;
}

function isReady(value: unknown): value is ReadyLine {
  return isRecord(value) && value.ready === true && typeof value.url === "string";
}

function isBaseplateReady(value: unknown): value is ReadyLine & { token: string } {
  return isReady(value) && isRecord(value) && typeof value.token === "string";
}

const PLANE_FIELDS: ReadonlyArray<keyof BenchPlane> = [
  "operatorId",
  "operatorToken",
  "projectId",
  "environmentId",
  "surfaceId",
  "secretKey",
  "secretKeyId",
  "tenantId",
  "userId",
  "userEmail",
  "userPassword",
  "sessionToken",
  "sessionId",
  "membershipId",
  "tenantKey",
  "agentKey",
  "accessToken",
];

function isPlaneReady(value: unknown): value is ReadyLine & {
  token: string;
  plane: BenchPlane;
  passwords: { profile: string; concurrency: number };
} {
  if (!isBaseplateReady(value) || !isRecord(value)) return false;
  const { plane, passwords } = value as Record<string, unknown>;
  return (
    isRecord(plane) &&
    PLANE_FIELDS.every((field) => typeof plane[field] === "string") &&
    isRecord(passwords) &&
    typeof passwords.profile === "string" &&
    typeof passwords.concurrency === "number"
  );
}

interface RawResult {
  result: { count: number; durationS: number; cpuMs: number; p50Ms: number | null; p99Ms: number | null };
}

function isRawResult(value: unknown): value is RawResult {
  if (!isRecord(value) || !isRecord(value.result)) return false;
  const r = value.result;
  const msOrNull = (v: unknown) => v === null || typeof v === "number";
  return (
    typeof r.count === "number" &&
    typeof r.durationS === "number" &&
    typeof r.cpuMs === "number" &&
    msOrNull(r.p50Ms) &&
    msOrNull(r.p99Ms)
  );
}
