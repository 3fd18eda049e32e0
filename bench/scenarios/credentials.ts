import { tempDir } from "../lib/databases.js";
import { checkResponse, type HttpLoad, measureHttp, measureHttpInterleaved } from "../lib/load.js";
import { type Comparison, compare, compareP99, type Measurement, type ResultRow, row } from "../lib/results.js";
import type { Scenario } from "../lib/scenario.js";
import { type Server, startBareFastify, startBaseplatePlane } from "../lib/servers.js";

/** VERIFY_P99_MS: `POST /v1/credentials/verify` answers within 2 ms at the 99th percentile (paced load). */
export const VERIFY_P99_MS = 2;
/** PROBE_RATE: requests per second of the paced latency measurement. */
const PROBE_RATE = 300;
const ROUNDS = 5;

function p99Target(m: Measurement, maxMs: number): Comparison {
  const ratio = m.p99Ms === null ? Number.NaN : m.p99Ms / maxMs;
  return { baseline: `p99 ≤ ${maxMs} ms`, ratio, metric: "p99", target: 1, pass: ratio <= 1 };
}

/**
 * credentialsVerifyScenario measures `POST /v1/credentials/verify` (a product's backend asking
 * the plane about a credential it was handed) on SQLite with a seeded plane: a JWT access token
 * (signature with the environment's cached key, then the session's liveness from the credential
 * cache) and a tenant key (the credential cache), against a bare Fastify answering the same JSON
 * on the same route after comparing the bearer token. Throughput in alternating rounds, then the
 * p99 of each paced at `PROBE_RATE` requests per second (timed from when each was due).
 */
export const credentialsVerifyScenario: Scenario = {
  id: "credentials-verify",
  title: "POST /v1/credentials/verify (JWT access token, tenant key): Baseplate (SQLite) vs bare Fastify",
  async run(ctx) {
    const { timing, getConnections } = ctx.options;
    ctx.progress("starting Baseplate (SQLite) and seeding a plane");
    const plane = await startBaseplatePlane(ctx.resources, {
      engine: "sqlite",
      dataDir: tempDir(ctx.resources, "verify"),
    });
    const load = (server: Server, token: string, extra: Partial<HttpLoad> = {}): HttpLoad => ({
      url: server.url,
      pid: server.pid,
      method: "POST",
      path: "/v1/credentials/verify",
      connections: getConnections,
      headers: { authorization: `Bearer ${plane.plane.secretKey}`, "content-type": "application/json" },
      body: JSON.stringify({ token }),
      ...extra,
    });
    const jwtBody = await checkResponse(load(plane, plane.plane.accessToken), 200);
    if (!(JSON.parse(jwtBody) as { valid?: boolean }).valid) throw new Error(`the access token is refused: ${jwtBody}`);
    const keyBody = await checkResponse(load(plane, plane.plane.tenantKey), 200);
    if (!(JSON.parse(keyBody) as { valid?: boolean }).valid) throw new Error(`the tenant key is refused: ${keyBody}`);

    ctx.progress("starting bare Fastify");
    const bare = await startBareFastify(ctx.resources, { store: "none" }, [
      { path: "/v1/credentials/verify", method: "POST", bearer: plane.plane.secretKey, body: JSON.parse(jwtBody) },
    ]);
    const bareBody = await checkResponse(load(bare, plane.plane.accessToken), 200);
    if (bareBody !== jwtBody) throw new Error(`bare Fastify answered ${bareBody}, Baseplate ${jwtBody}`);

    ctx.progress(`throughput, ${ROUNDS} alternating rounds`);
    const loads = [
      load(bare, plane.plane.accessToken),
      load(plane, plane.plane.accessToken),
      load(plane, plane.plane.tenantKey),
    ];
    const { measurements } = await measureHttpInterleaved(loads, timing, ROUNDS);
    const [bareM, jwtM, keyM] = measurements;
    if (!bareM || !jwtM || !keyM) throw new Error("missing measurement");

    ctx.progress(`latency, paced at ${PROBE_RATE} req/s`);
    const paced = { connections: 4, overallRate: PROBE_RATE };
    const bareP = await measureHttp(load(bare, plane.plane.accessToken, paced), timing);
    const jwtP = await measureHttp(load(plane, plane.plane.accessToken, paced), timing);
    const keyP = await measureHttp(load(plane, plane.plane.tenantKey, paced), timing);
    await Promise.all([bare.stop(), plane.stop()]);

    const bareRow = row("bare Fastify", "baseline", bareM);
    const barePaced = row(`bare Fastify, paced ${PROBE_RATE}/s`, "baseline", bareP);
    const rows: ResultRow[] = [
      bareRow,
      row("Baseplate, JWT access token", "subject", jwtM, [compare(jwtM, bareRow)]),
      row("Baseplate, tenant key", "subject", keyM, [compare(keyM, bareRow)]),
      barePaced,
      row(`Baseplate, JWT, paced ${PROBE_RATE}/s`, "subject", jwtP, [
        p99Target(jwtP, VERIFY_P99_MS),
        compareP99(jwtP, barePaced),
      ]),
      row(`Baseplate, tenant key, paced ${PROBE_RATE}/s`, "subject", keyP, [
        p99Target(keyP, VERIFY_P99_MS),
        compareP99(keyP, barePaced),
      ]),
    ];
    return {
      status: "measured",
      rows,
      notes: [
        `Throughput: ${getConnections} connections, ${ROUNDS} alternating rounds of ${(timing.durationS / ROUNDS).toFixed(1)} s per load; ` +
          `bare Fastify answers Baseplate's ${jwtBody.length}-byte JWT verdict after comparing the bearer token.`,
        `Latency: ${PROBE_RATE} requests per second over 4 connections, each timed from when it was due; the target is p99 ≤ ${VERIFY_P99_MS} ms.`,
        "A JWT is verified with the environment's key (cached by kid), then its session is looked up in the credential cache (evicted by the change bus on revocation).",
      ],
    };
  },
};
