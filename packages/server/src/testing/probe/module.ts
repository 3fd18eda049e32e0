import { defineModule } from "../../platform/module.js";
import { probeIds } from "./ids.js";
import { migration as tables } from "./migrations/202611260100_probe_tables.js";
import { probeRoutes } from "./routes.js";
import { ProbeService } from "./service.js";

/**
 * probeModuleWith builds the probe module: a minimal module for the test harness and the benchmark
 * (one table, routes through the whole write path, a job, a fact sink and a credential resolver).
 * It is never part of the shipped plane (`app.ts` does not list it). `jobDelayMs` makes its job
 * slow (durability tests).
 */
export function probeModuleWith(options: { jobDelayMs?: number } = {}) {
  return defineModule({
    name: "probe",
    migrations: [tables],
    ids: probeIds.prefixes,
    createService: (ctx) => new ProbeService(ctx),
    credentialResolvers: (service) => [
      { kind: "probe", prefix: "bp_probe_", resolve: async (token) => service.resolve(token) },
    ],
    factSinks: () => [
      {
        name: "probe",
        sink: async (tx, fact) => {
          await tx
            .insertInto("probe_fact")
            .values({
              id: fact.id,
              type: fact.type,
              environment_id: fact.environmentId,
              actor_id: fact.actor?.actorId ?? null,
              targets: JSON.stringify(fact.targets),
            })
            .execute();
        },
      },
    ],
    jobs: (service) => [
      {
        name: "probe.record",
        maxAttempts: 5,
        handler: async (_payload, job) => {
          if (options.jobDelayMs) await new Promise((r) => setTimeout(r, options.jobDelayMs));
          await service.recordJobRun(job);
        },
      },
    ],
    routes: (service) => probeRoutes(service),
  });
}

/** probeModule is the probe module with default options. */
export const probeModule = probeModuleWith();
