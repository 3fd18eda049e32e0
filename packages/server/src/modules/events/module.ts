import { z } from "zod";
import { defineModule } from "../../platform/module.js";
import { eventsIds } from "./ids.js";
import { eventSettingsSection, eventTypesSection } from "./manifest.js";
import { migration as core } from "./migrations/202611261500_events_core.js";
import { migration as clientIds } from "./migrations/202612101517_events_client_ids.js";
import { eventsReview } from "./review.js";
import { eventsRoutes } from "./routes.js";
import { EventsService } from "./service.js";

export const eventsModule = defineModule({
  name: "events",
  migrations: [core, clientIds],
  ids: eventsIds.prefixes,
  permissions: { events: ["read", "publish"] },
  roleGrants: { admin: { events: "*" }, member: { events: ["read"] } },
  createService: (ctx) => new EventsService(ctx),
  routes: (service) => eventsRoutes(service),
  manifest: (service) => [eventTypesSection(service), eventSettingsSection(service)],
  review: (service) => eventsReview(service),
  facts: {
    "event.published": {
      description: "A product published an event (recorded for the audit log; the event itself is in the log).",
      data: z.object({ eventType: z.string(), sequence: z.number().int() }),
    },
    "event_type.created": {
      description: "An event type was registered in the catalog.",
      data: z.object({ name: z.string(), version: z.number().int() }),
    },
    "event_type.updated": { description: "An event type was changed or deprecated." },
    "event_settings.updated": { description: "The event log settings (retention) of an environment changed." },
  },
  personalData: (service) => ({
    export: (_db, subject) => service.log.exportSubject(subject),
    erase: (tx, subject) => service.log.eraseSubject(tx, subject),
  }),
  factSinks: (service) => [{ name: "events.log", sink: (tx, fact) => service.log.appendFact(tx, fact) }],
  jobs: (service) => [
    { name: "events.prune", maxAttempts: 3, handler: async () => void (await service.log.pruneEvents()) },
  ],
  schedules: { "events.prune": "23 3 * * *" },
  stop: async (service) => service.streams.close(),
});
