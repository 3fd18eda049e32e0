import { z } from "zod";
import { Timestamp } from "../../platform/http/schemas.js";
import { defineModule } from "../../platform/module.js";
import { tenancyModule } from "../tenancy/index.js";
import { usageIds } from "./ids.js";
import { metersSection } from "./manifest.js";
import { migration as core } from "./migrations/202612121347_usage_core.js";
import { migration as tenantZone } from "./migrations/202612121420_usage_entitlement_zone.js";
import { migration as lateIndex } from "./migrations/202612121600_usage_late_rollup.js";
import { migration as rollupCover } from "./migrations/202612121610_usage_rollup_cover.js";
import { migration as holdList } from "./migrations/202612140900_usage_hold_list.js";
import { usageReview } from "./review.js";
import { usageRoutes } from "./routes.js";
import { EXPIRE_JOB } from "./service/holds.js";
import { UsageService } from "./service.js";

/**
 * The usage module: meters, ingestion (deduplicated, atomic with the write), rollups and queries,
 * entitlements and holds. Each usage event is not a fact (there are too many, and the event row is
 * itself the record of who reported what); every change to meters, entitlements and holds is.
 */
export const usageModule = defineModule({
  name: "usage",
  dependsOn: { tenancy: tenancyModule },
  migrations: [core, tenantZone, lateIndex, rollupCover, holdList],
  ids: usageIds.prefixes,
  permissions: { usage: ["read", "report", "manage"], entitlements: ["read", "write"] },
  roleGrants: {
    // `report`: so the agents members delegate can report what their work used (users themselves
    // cannot: the reporting routes take keys only).
    admin: { usage: ["read", "report"], entitlements: ["read"] },
    member: { usage: ["read", "report"], entitlements: ["read"] },
  },
  createService: (ctx, { tenancy }) => new UsageService(ctx, tenancy),
  routes: (service) => usageRoutes(service),
  manifest: (service) => [metersSection(service)],
  review: (service) => usageReview(service),
  facts: {
    "usage_meter.created": {
      description: "A meter was created.",
      data: z.object({ key: z.string(), eventType: z.string(), aggregation: z.string() }),
    },
    "usage_meter.updated": { description: "A meter changed (`changes`: before/after)." },
    "usage_meter.archived": {
      description: "A meter was archived: its events are no longer accepted.",
      data: z.object({ key: z.string() }),
    },
    "entitlement.set": {
      description: "A tenant's entitlement to a feature was created or changed.",
      data: z.object({
        feature: z.string(),
        kind: z.string(),
        limit: z.number().nullable(),
        period: z.string().nullable(),
      }),
    },
    "entitlement.removed": {
      description: "A tenant's entitlement to a feature was removed.",
      data: z.object({ feature: z.string() }),
    },
    "usage_hold.reserved": {
      description: "An amount of a metered feature was reserved for a while.",
      data: z.object({ feature: z.string(), amount: z.number(), expiresAt: Timestamp }),
    },
    "usage_hold.committed": {
      description: "A hold was committed: the actual amount became a usage event.",
      data: z.object({ feature: z.string(), amount: z.number(), committedAmount: z.number(), eventId: z.string() }),
    },
    "usage_hold.released": {
      description: "A hold was released unused.",
      data: z.object({ feature: z.string(), amount: z.number() }),
    },
    "usage_hold.expired": {
      description: "A hold passed its TTL unused and was released by the plane.",
      data: z.object({ feature: z.string(), amount: z.number() }),
    },
  },
  jobs: (service) => [
    { name: EXPIRE_JOB, maxAttempts: 3, handler: async () => void (await service.holds.expireDue()) },
  ],
  schedules: { [EXPIRE_JOB]: "* * * * *" },
});
