import { defineModule } from "../../platform/module.js";
import { AUDIT_FACTS } from "./facts.js";
import { auditIds } from "./ids.js";
import { auditSettingsSection } from "./manifest.js";
import { migration as core } from "./migrations/202611261420_audit_core.js";
import { migration as denials } from "./migrations/202612101518_audit_denials.js";
import { migration as subjectKeys } from "./migrations/202612131010_audit_subject_keys.js";
import { auditReview } from "./review.js";
import { auditRoutes } from "./routes.js";
import { AuditService } from "./service.js";

/**
 * The audit module depends on no module: it subscribes to facts. Every fact becomes one entry in
 * the writer's transaction; checkpoints are signed hourly (and on demand); retention runs daily.
 * It also records refused requests of agents and tenant keys (`access.denied`, rate-limited)
 * through the Authorizer's `denied` hook.
 */
export const auditModule = defineModule({
  name: "audit",
  migrations: [core, denials, subjectKeys],
  sealedColumns: [
    { table: "audit_signing_key", column: "private_key" },
    { table: "audit_subject_key", column: "sealed_key" },
  ],
  ids: auditIds.prefixes,
  permissions: { audit: ["read", "export", "write", "manage"] },
  roleGrants: { admin: { audit: "*" } },
  facts: AUDIT_FACTS,
  createService: (ctx) => new AuditService(ctx),
  routes: (service) => auditRoutes(service),
  manifest: (service) => [auditSettingsSection(service)],
  review: (service) => auditReview(service),
  factSinks: (service) => [{ name: "audit.entries", sink: (tx, fact) => service.entries.recordFact(tx, fact) }],
  personalData: (service) => ({
    export: (_db, subject) => service.entries.exportSubject(subject),
    erase: async (tx, subject) => ({
      subjectKeys: await service.personal.erase(tx, subject.environmentId, subject.userId),
      addressKeys: await service.personal.eraseAddress(tx, subject.environmentId, subject.email),
    }),
  }),
  accessHooks: (service) => ({ denied: (ctx, denial) => service.denials.record(ctx, denial) }),
  jobs: (service) => [
    { name: "audit.checkpoint", maxAttempts: 3, handler: async () => void (await service.checkpoints.checkpointAll()) },
    {
      name: "audit.prune",
      maxAttempts: 3,
      handler: async () => {
        await service.settings.pruneAll();
        await service.denials.pruneWindows();
      },
    },
  ],
  schedules: { "audit.checkpoint": "0 * * * *", "audit.prune": "17 3 * * *" },
  start: (service) => service.checkpoints.start(),
});
