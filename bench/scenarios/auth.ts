import { availableParallelism } from "node:os";
import { createSchema, redactUrl, tempDir } from "../lib/databases.js";
import { checkResponse, type HttpLoad, measureHttpInterleaved, measureHttpPhases } from "../lib/load.js";
import type { Timing } from "../lib/options.js";
import { compare, compareP99, compareToRate, type Measurement, type ResultRow, row } from "../lib/results.js";
import type { BenchContext, Scenario } from "../lib/scenario.js";
import {
  type BaseplatePlaneServer,
  type BenchPlane,
  runRawArgon2,
  type Server,
  startBareFastify,
  startBaseplatePlane,
} from "../lib/servers.js";

/** READ_TARGET: an authenticated read on Baseplate (SQLite) keeps at least half of bare Fastify's throughput. */
export const READ_TARGET = 0.5;
/** POSTGRES_READ_TARGET: the same read on PostgreSQL keeps at least half of Baseplate on SQLite. */
export const POSTGRES_READ_TARGET = 0.5;
/** LOGIN_TARGET: successful logins per second at the production argon2id profile, on a 2-core machine. */
export const LOGIN_TARGET = 100;
/** LOGIN_RAW_TARGET: logins keep at least 0.9x raw argon2id verify on all cores (same run). */
export const LOGIN_RAW_TARGET = 0.9;
/** LOGIN_P99_TARGET: other routes' p99 during logins stays within 2x their p99 alone. */
export const LOGIN_P99_TARGET = 2;
/** LOGIN_CONNECTIONS: concurrent login clients, enough to keep every hashing slot busy. */
export const LOGIN_CONNECTIONS = 8;
/** PROBE_RATE and PROBE_CONNECTIONS: the paced latency probes of the login scenario (per route). */
const PROBE_RATE = 200;
const PROBE_CONNECTIONS = 4;
const ROUNDS = 5;
/** PHASE_ROUNDS: rounds of the login scenario's three phases (probes alone, logins alone, both). */
const PHASE_ROUNDS = 3;

type ReadKind = "secret-key" | "session" | "tenant-key" | "agent-key";

interface ReadRoute {
  /** pattern is the Fastify route pattern (the bare baseline registers it). */
  pattern: string;
  path(plane: BenchPlane): string;
  bearer(plane: BenchPlane): string;
  params(plane: BenchPlane): Record<string, string>;
  credential: string;
}

const READ_ROUTES: Record<ReadKind, ReadRoute> = {
  "secret-key": {
    pattern: "/v1/tenants/:tenantId",
    path: (plane) => `/v1/tenants/${plane.tenantId}`,
    bearer: (plane) => plane.secretKey,
    params: (plane) => ({ tenantId: plane.tenantId }),
    credential: "a secret key (bp_sk_, scopes *)",
  },
  "tenant-key": {
    pattern: "/v1/tenants/:tenantId/members/:membershipId",
    path: (plane) => `/v1/tenants/${plane.tenantId}/members/${plane.membershipId}`,
    bearer: (plane) => plane.tenantKey,
    params: (plane) => ({ tenantId: plane.tenantId, membershipId: plane.membershipId }),
    credential: "a tenant key (bp_tk_, members:read): resolution, tenant confinement, tenant state, permission",
  },
  "agent-key": {
    pattern: "/v1/tenants/:tenantId/members/:membershipId",
    path: (plane) => `/v1/tenants/${plane.tenantId}/members/${plane.membershipId}`,
    bearer: (plane) => plane.agentKey,
    params: (plane) => ({ tenantId: plane.tenantId, membershipId: plane.membershipId }),
    credential:
      "an agent key (bp_ak_, scope members:*): resolution, scope ∩ the user's current permissions, tenant state, permission",
  },
  session: {
    pattern: "/v1/auth/me",
    path: () => "/v1/auth/me",
    bearer: (plane) => plane.sessionToken,
    params: () => ({}),
    credential: "an end-user session token (bp_st_)",
  },
};

const READ_LABELS: Record<ReadKind, string> = {
  "secret-key": "a secret key",
  session: "a session",
  "tenant-key": "a tenant key",
  "agent-key": "an agent key",
};

/**
 * authReadScenario measures an authenticated read end to end: resolve the bearer token into a
 * principal (credential cache, else the database), check the route's guard, fetch one row and
 * render it. `secret-key`: `GET /v1/tenants/:tenantId` with a secret key; `session`:
 * `GET /v1/auth/me` with a session token. Baseplate on SQLite and on PostgreSQL, each with a
 * seeded plane, against a bare Fastify answering the same JSON on the same route after comparing
 * the bearer token. The three run at once and are measured in alternating rounds (reads are
 * stateless). PostgreSQL rows are skipped, with a note, when it is unreachable.
 */
export function authReadScenario(kind: ReadKind): Scenario {
  const route = READ_ROUTES[kind];
  return {
    id: `auth-${kind === "secret-key" ? "secret-key" : kind}-read`,
    title: `GET ${route.pattern} with ${READ_LABELS[kind]}: Baseplate (SQLite, PostgreSQL) vs bare Fastify`,
    usesPostgres: true,
    run: (ctx) => runRead(ctx, route),
  };
}

async function runRead(ctx: BenchContext, route: ReadRoute) {
  const { timing, getConnections } = ctx.options;
  const load = (server: Server, plane: BenchPlane): HttpLoad => ({
    url: server.url,
    pid: server.pid,
    method: "GET",
    path: route.path(plane),
    connections: getConnections,
    headers: { authorization: `Bearer ${route.bearer(plane)}` },
  });

  ctx.progress("starting Baseplate (SQLite) and seeding a plane");
  const sqlite = await startBaseplatePlane(ctx.resources, {
    engine: "sqlite",
    dataDir: tempDir(ctx.resources, "auth"),
  });
  const body = await checkResponse(load(sqlite, sqlite.plane), 200);

  ctx.progress("starting bare Fastify");
  const bare = await startBareFastify(ctx.resources, { store: "none" }, [
    {
      path: route.pattern,
      bearer: route.bearer(sqlite.plane),
      params: route.params(sqlite.plane),
      body: JSON.parse(body),
    },
  ]);
  const bareBody = await checkResponse(load(bare, sqlite.plane), 200);
  if (bareBody !== body) throw new Error(`bare Fastify answered ${bareBody}, Baseplate ${body}`);
  await checkResponse({ ...load(bare, sqlite.plane), headers: { authorization: "Bearer wrong" } }, 401);

  let postgres: BaseplatePlaneServer | null = null;
  if (ctx.postgres) {
    ctx.progress("starting Baseplate (PostgreSQL) and seeding a plane");
    const schema = await createSchema(ctx.resources, ctx.postgres);
    postgres = await startBaseplatePlane(ctx.resources, { engine: "postgres", url: ctx.postgres, schema });
    await checkResponse(load(postgres, postgres.plane), 200);
  }

  const loads = [load(bare, sqlite.plane), load(sqlite, sqlite.plane)];
  if (postgres) loads.push(load(postgres, postgres.plane));
  ctx.progress(`GET ${route.pattern}, ${ROUNDS} alternating rounds over ${loads.length} servers`);
  const { measurements, roundRates } = await measureHttpInterleaved(loads, timing, ROUNDS);
  await Promise.all([bare.stop(), sqlite.stop(), postgres?.stop()]);

  const [bareM, sqliteM, postgresM] = measurements;
  if (!bareM || !sqliteM) throw new Error("missing measurement");
  const bareRow = row("bare Fastify", "baseline", bareM);
  const sqliteRow = row("Baseplate SQLite", "subject", sqliteM, [compare(sqliteM, bareRow, READ_TARGET)]);
  const rows: ResultRow[] = [bareRow, sqliteRow];
  if (postgresM) {
    rows.push(
      row("Baseplate PostgreSQL", "subject", postgresM, [
        compare(postgresM, sqliteRow, POSTGRES_READ_TARGET),
        compare(postgresM, bareRow),
      ]),
    );
  }
  const perRound = (subject: number, baseline: number) =>
    (roundRates[subject] ?? []).map((rate, i) => (rate / (roundRates[baseline]?.[i] ?? Number.NaN)).toFixed(2));
  return {
    status: "measured" as const,
    rows,
    notes: [
      `${getConnections} connections, every request with ${route.credential}; all answer 200 with the same ` +
        `${body.length}-byte JSON (bare Fastify returns Baseplate's SQLite answer after comparing the bearer token). ` +
        `${ROUNDS} alternating rounds of ${(timing.durationS / ROUNDS).toFixed(1)} s per server, all running.`,
      "Baseplate's default config, plus a seeded plane (tenancy + identity modules); resolved credentials are " +
        "cached (30 s), so most requests do one SELECT for the row, plus the credential lookup on a cache miss.",
      `Per-round ratios, SQLite / bare: ${perRound(1, 0).join(", ")}` +
        (postgresM ? `; PostgreSQL / SQLite: ${perRound(2, 1).join(", ")}` : "") +
        " (a wide spread means a noisy machine).",
      postgres
        ? `PostgreSQL ${redactUrl(ctx.postgres ?? "")}, fresh schema, pool of 10 (the default); it shares the cores.`
        : `PostgreSQL row skipped: ${ctx.postgresSkipReason ?? "unavailable"}.`,
    ],
  };
}

const ms = (value: number | null) => (value === null ? "n/a" : `${value.toFixed(1)} ms`);
const rounds = (values: (number | null)[] | undefined) =>
  (values ?? []).map((v) => (v === null ? "n/a" : v.toFixed(1))).join(", ");
const us = (value: number | null) => (value === null ? "n/a" : `${Math.round(value).toLocaleString("en-US")} us`);
const cpuRatio = (raw: number | null, login: number | null) =>
  raw === null || login === null || login <= 0 ? "n/a" : `${(raw / login).toFixed(2)}x`;
/** roundRatio: the median over rounds of (p99 during logins / p99 alone) in the same round. */
const roundRatio = (busy: (number | null)[] | undefined, alone: (number | null)[] | undefined) => {
  const ratios = (busy ?? [])
    .map((b, i) => (b === null || !alone?.[i] ? Number.NaN : b / (alone[i] as number)))
    .filter((r) => Number.isFinite(r))
    .sort((a, b) => a - b);
  return ratios.length === 0 ? "n/a" : `${(ratios[Math.floor(ratios.length / 2)] as number).toFixed(2)}x`;
};
const times = (busy: number | null, alone: number | null) =>
  busy === null || alone === null || alone <= 0 ? "n/a" : `${(busy / alone).toFixed(2)}x`;

/**
 * loginScenario measures `POST /v1/auth/login` (right password, production argon2id parameters:
 * the default `owasp` profile) with enough clients to keep every hashing slot busy, against the
 * issue's absolute target; then the p99 of two other routes (`GET /healthz`, and the secret-key
 * tenant read), paced at a fixed rate, alone and again while logins saturate, side by side.
 * Baseplate on SQLite with a freshly seeded plane (a fresh user per run).
 */
export const loginScenario: Scenario = {
  id: "auth-login",
  title: "POST /v1/auth/login at argon2id owasp (SQLite), and other routes' p99 while logins saturate",
  async run(ctx) {
    const { timing } = ctx.options;
    ctx.progress("starting Baseplate (SQLite) and seeding a plane");
    const server = await startBaseplatePlane(ctx.resources, {
      engine: "sqlite",
      dataDir: tempDir(ctx.resources, "login"),
    });
    const { plane, passwords } = server;
    if (passwords.profile !== "owasp") {
      throw new Error(`Baseplate runs password profile "${passwords.profile}"; logins must be measured at "owasp"`);
    }
    const login: HttpLoad = {
      url: server.url,
      pid: server.pid,
      method: "POST",
      path: "/v1/auth/login",
      connections: LOGIN_CONNECTIONS,
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ surfaceId: plane.surfaceId, email: plane.userEmail, password: plane.userPassword }),
    };
    const probe = (path: string, headers: Record<string, string> = {}): HttpLoad => ({
      url: server.url,
      method: "GET",
      path,
      connections: PROBE_CONNECTIONS,
      headers,
      overallRate: PROBE_RATE,
    });
    const healthz = probe("/healthz");
    const tenant = probe(`/v1/tenants/${plane.tenantId}`, { authorization: `Bearer ${plane.secretKey}` });
    await checkResponse(login, 201);
    await checkResponse(healthz, 200);
    await checkResponse(tenant, 200);

    const cores = availableParallelism();
    // The raw baselines run in two halves, before and after the login phases, so that noise from
    // other processes during the run weighs on the baseline as on the subject.
    const half: Timing = { durationS: timing.durationS / 2, warmupS: timing.warmupS / 2 };
    const rawHalves = async () => {
      ctx.progress(`raw argon2id verifications, ${cores} at once and 1 at once (server idle)`);
      const all = await runRawArgon2(ctx.resources, { profile: passwords.profile, concurrency: cores }, half);
      const one = await runRawArgon2(ctx.resources, { profile: passwords.profile, concurrency: 1 }, half);
      return { all, one };
    };
    const rawBefore = await rawHalves();

    ctx.progress(
      `${PHASE_ROUNDS} rounds of: probes alone (GET /healthz and GET /v1/tenants/:id, ${PROBE_RATE} req/s each), ` +
        `logins alone (${LOGIN_CONNECTIONS} connections), logins and probes at once`,
    );
    const noCpu = (load: HttpLoad): HttpLoad => ({ ...load, pid: undefined });
    const { measurements, roundP99Ms } = await measureHttpPhases(
      [[healthz, tenant], [login], [login, healthz, tenant].map((load, i) => (i === 0 ? load : noCpu(load)))],
      timing,
      PHASE_ROUNDS,
    );
    const rawAfter = await rawHalves();
    await server.stop();
    const raw = mergeHalves(rawBefore.all, rawAfter.all);
    const rawOne = mergeHalves(rawBefore.one, rawAfter.one);
    const [alone, logins, busy] = measurements;
    const [healthzAlone, tenantAlone] = alone ?? [];
    const [loginAlone] = logins ?? [];
    const [loginBusy, healthzBusy, tenantBusy] = busy ?? [];
    if (!healthzAlone || !tenantAlone || !loginAlone || !loginBusy || !healthzBusy || !tenantBusy) {
      throw new Error("missing measurement");
    }

    const target = `${LOGIN_TARGET} logins/s`;
    const rawRow = row(`raw argon2id verify x${cores} (all cores)`, "baseline", raw, [
      compareToRate(raw, LOGIN_TARGET, target, false),
    ]);
    const rawOneRow = row("raw argon2id verify x1", "baseline", rawOne, [compare(rawOne, rawRow)]);
    const healthzRow = row("GET /healthz alone", "baseline", healthzAlone);
    const tenantRow = row("GET /v1/tenants/:id alone", "baseline", tenantAlone);
    const loginRow = row("POST /v1/auth/login", "subject", loginAlone, [
      compareToRate(loginAlone, LOGIN_TARGET, target),
      compare(loginAlone, rawRow, LOGIN_RAW_TARGET),
      compare(loginAlone, rawOneRow),
    ]);
    return {
      status: "measured" as const,
      rows: [
        rawRow,
        rawOneRow,
        loginRow,
        row("POST /v1/auth/login + probes", "subject", loginBusy, [
          compareToRate(loginBusy, LOGIN_TARGET, target, false),
          compare(loginBusy, loginRow),
        ]),
        healthzRow,
        row("GET /healthz during logins", "subject", healthzBusy, [
          compareP99(healthzBusy, healthzRow, LOGIN_P99_TARGET),
        ]),
        tenantRow,
        row("GET /v1/tenants/:id during logins", "subject", tenantBusy, [
          compareP99(tenantBusy, tenantRow, LOGIN_P99_TARGET),
        ]),
      ],
      notes: [
        `Password profile ${passwords.profile} (argon2id, 19 MiB, t=2, p=1), ${passwords.concurrency} hashing ` +
          `threads (the server's default: one per core, ${cores} here, below the event loop's priority); every login ` +
          "succeeds (right password of a fresh user; the throttle counts failures only) and opens a session " +
          "(one write transaction, synchronous=FULL).",
        `Raw argon2id verify: the hardware ceiling, ${cores} at once (all cores; the baseline, target ` +
          `>= ${LOGIN_RAW_TARGET.toFixed(2)}x) and 1 at once, in a child process with no HTTP, database or session ` +
          "(same library and parameters), measured while the server idles, half before and half after the " +
          "login phases (rate and cpu over both halves, p50/p99 the mean of the two). " +
          `Per half, x${cores}: ${rawBefore.all.rate.toFixed(0)} then ${rawAfter.all.rate.toFixed(0)} ops/s; x1: ` +
          `${rawBefore.one.rate.toFixed(0)} then ${rawAfter.one.rate.toFixed(0)} ops/s. ` +
          "The load generator shares the cores " +
          "during logins and not during the raw runs: compare the cpu us/op column too (login cpu - raw cpu = " +
          "what a login costs besides its hash).",
        `Logins: ${LOGIN_CONNECTIONS} connections, as fast as answered; "${target}" is the issue's absolute ` +
          "target (ratio = rate / target), judged on the logins-alone row. The cpu column of the second " +
          "login row includes the probes.",
        `Probes: GET /healthz and GET /v1/tenants/:id (secret key), each paced at ${PROBE_RATE} req/s (evenly ` +
          `spaced, timed from when due, up to ${PROBE_CONNECTIONS} keep-alive connections), measured alone and then ` +
          'while logins saturate, in this run; "p99 N x" is the p99 during logins divided by the p99 alone ' +
          `(1.00x: unaffected; target <= ${LOGIN_P99_TARGET.toFixed(2)}x).`,
        `"p99 of other routes unaffected while logins saturate": GET /healthz p99 ${ms(healthzAlone.p99Ms)} alone, ` +
          `${ms(healthzBusy.p99Ms)} during logins (${times(healthzBusy.p99Ms, healthzAlone.p99Ms)}); ` +
          `GET /v1/tenants/:id p99 ${ms(tenantAlone.p99Ms)} alone, ${ms(tenantBusy.p99Ms)} during logins ` +
          `(${times(tenantBusy.p99Ms, tenantAlone.p99Ms)}).`,
        `p99 per round (ms), alone -> during logins: GET /healthz ${rounds(roundP99Ms[0]?.[0])} -> ` +
          `${rounds(roundP99Ms[2]?.[1])}; GET /v1/tenants/:id ${rounds(roundP99Ms[0]?.[1])} -> ` +
          `${rounds(roundP99Ms[2]?.[2])} (an outlier in one round is a stall of another process); median of the ` +
          `per-round ratios: GET /healthz ${roundRatio(roundP99Ms[2]?.[1], roundP99Ms[0]?.[0])}, GET /v1/tenants/:id ` +
          `${roundRatio(roundP99Ms[2]?.[2], roundP99Ms[0]?.[1])}.`,
        `CPU per operation (all threads of the process): login ${us(loginAlone.cpuUsPerOp)}, raw verify ` +
          `x${cores} ${us(raw.cpuUsPerOp)}: on cores the load generator does not share, logins would reach about ` +
          `${cpuRatio(raw.cpuUsPerOp, loginAlone.cpuUsPerOp)} raw verify on all cores (raw cpu / login cpu).`,
        `The three phases ran in ${PHASE_ROUNDS} rounds in rotating order, ${(timing.durationS / PHASE_ROUNDS).toFixed(1)} s ` +
          "each, 0.5 s apart, so noise from other processes hits them alike.",
      ],
    };
  },
};

/** mergeHalves joins two runs of one measurement: rate and cpu over both, latencies the mean of the two. */
function mergeHalves(a: Measurement, b: Measurement): Measurement {
  const count = a.count + b.count;
  const durationS = a.durationS + b.durationS;
  const mean = (x: number | null, y: number | null) => (x === null || y === null ? (x ?? y) : (x + y) / 2);
  const cpu =
    a.cpuUsPerOp === null || b.cpuUsPerOp === null || count === 0
      ? null
      : (a.cpuUsPerOp * a.count + b.cpuUsPerOp * b.count) / count;
  return {
    ...a,
    rate: durationS > 0 ? count / durationS : 0,
    p50Ms: mean(a.p50Ms, b.p50Ms),
    p99Ms: mean(a.p99Ms, b.p99Ms),
    count,
    failures: a.failures + b.failures,
    durationS,
    cpuUsPerOp: cpu,
  };
}
