import { tempDir } from "../lib/databases.js";
import { checkResponse, type HttpLoad, measureHttpInterleaved } from "../lib/load.js";
import { compare, row } from "../lib/results.js";
import type { Scenario } from "../lib/scenario.js";
import { type Server, startBareFastify, startBaseplate } from "../lib/servers.js";

/** HEALTHZ_TARGET: Baseplate's kernel keeps at least 90% of bare Fastify's throughput. */
export const HEALTHZ_TARGET = 0.9;
const ROUNDS = 5;

/**
 * healthzScenario measures what the kernel adds to every request: `GET /healthz` (no auth, no
 * database) on Baseplate with embedded SQLite, against a bare Fastify answering the same route.
 * Both servers run at once and are measured in alternating rounds (the route is stateless).
 */
export const healthzScenario: Scenario = {
  id: "kernel-healthz",
  title: "GET /healthz: Baseplate (embedded SQLite) vs bare Fastify",
  async run(ctx) {
    const { timing, getConnections } = ctx.options;
    const load = (server: Server): HttpLoad => ({
      url: server.url,
      pid: server.pid,
      method: "GET",
      path: "/healthz",
      connections: getConnections,
    });

    ctx.progress("starting bare Fastify and Baseplate");
    const bare = await startBareFastify(ctx.resources, { store: "none" });
    const baseplate = await startBaseplate(ctx.resources, {
      engine: "sqlite",
      dataDir: tempDir(ctx.resources, "healthz"),
    });
    const expected = await checkResponse(load(bare), 200);
    const body = await checkResponse(load(baseplate), 200);
    if (body !== expected) throw new Error(`Baseplate /healthz answered ${body}, bare Fastify ${expected}`);

    ctx.progress(`GET /healthz, ${ROUNDS} alternating rounds`);
    const { measurements, roundRates } = await measureHttpInterleaved([load(bare), load(baseplate)], timing, ROUNDS);
    await Promise.all([bare.stop(), baseplate.stop()]);
    const [bareM, measured] = measurements;
    if (!bareM || !measured) throw new Error("missing measurement");

    const bareRow = row("bare Fastify", "baseline", bareM);
    const ratios = (roundRates[1] ?? []).map((rate, i) => rate / (roundRates[0]?.[i] ?? Number.NaN));
    return {
      status: "measured",
      rows: [bareRow, row("Baseplate", "subject", measured, [compare(measured, bareRow, HEALTHZ_TARGET)])],
      notes: [
        `${getConnections} connections; both answer ${expected}; ${ROUNDS} alternating rounds of ` +
          `${(timing.durationS / ROUNDS).toFixed(1)} s per server.`,
        `Per-round ratios: ${ratios.map((r) => r.toFixed(2)).join(", ")} (a wide spread means a noisy machine).`,
      ],
    };
  },
};
