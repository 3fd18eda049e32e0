import { z } from "zod";
import { type ManifestAssessment, type ManifestSection, plural } from "../../platform/manifest.js";
import { Aggregation, EventType, GroupBy, MeterKey, ValuePath } from "./schemas.js";
import type { UsageService } from "./service.js";

/** MeterItem is a meter as the manifest declares it. */
export const MeterItem = z
  .strictObject({
    key: MeterKey,
    eventType: EventType.describe("The `type` of the usage events this meter counts."),
    aggregation: Aggregation,
    valuePath: ValuePath.nullable()
      .default(null)
      .describe("Where the value is in `data` (every aggregation but `count`)."),
    groupBy: GroupBy.default({}),
    description: z.string().max(500).default(""),
  })
  .refine((m) => m.aggregation === "count" || m.valuePath !== null, {
    message: "is required unless the aggregation is `count`",
    path: ["valuePath"],
  });
export type MeterItem = z.infer<typeof MeterItem>;

const DEFINITION = ["aggregation", "valuePath", "groupBy"];

/**
 * metersSection: the environment's meters. A meter that has events keeps its definition (create a
 * meter with a new key instead) and is archived, never deleted: removing it from the manifest stops
 * its ingestion, which is destructive once products report to it.
 */
export function metersSection(service: UsageService): ManifestSection<MeterItem> {
  const meters = service.meters;
  const m = service.context;
  return {
    name: "meters",
    description: "Usage meters: what the environment counts, how, and by which dimensions.",
    item: MeterItem,
    keyOf: (i) => i.key,
    normalize: (i) => ({
      ...i,
      valuePath: i.valuePath ?? null,
      groupBy: Object.fromEntries(Object.entries(i.groupBy).sort(([a], [b]) => (a < b ? -1 : 1))),
    }),
    guard: (ctx, mode) => void m.access.environment(ctx, mode === "read" ? "usage:read" : "usage:manage"),
    lock: (tx) => m.db.lockTable(tx, "usage_meter"),
    live: async (environmentId, tx) =>
      (await meters.liveMeters(environmentId, tx)).map((meter) => ({
        key: meter.key,
        eventType: meter.eventType,
        aggregation: meter.aggregation,
        valuePath: meter.valuePath,
        groupBy: meter.groupBy,
        description: meter.description,
      })),
    async assess(environmentId, diff, tx): Promise<ManifestAssessment> {
      const key = `\`${diff.key}\``;
      if (diff.action === "create") {
        const taken = await meters.archivedKeyTaken(environmentId, diff.key, tx);
        return {
          risk: "additive",
          summary: `Adds meter ${key} (${diff.after?.aggregation} of \`${diff.after?.eventType}\` events).`,
          affected: [],
          blocked: taken
            ? `An archived meter holds the key ${key}; meter keys are never reused: choose another.`
            : null,
        };
      }
      const row = await meters.row(environmentId, diff.key, tx);
      const recorded = await meters.recorded(environmentId, row.id, tx);
      const affected =
        recorded.events > 0
          ? [
              {
                count: recorded.events,
                what: `usage events recorded by meter ${key} (${plural(recorded.tenants, "tenant")})`,
              },
            ]
          : [];
      if (diff.action === "delete") {
        return {
          risk: recorded.events > 0 ? "destructive" : "behaviour",
          summary: `Archives meter ${key}: its events are refused from then on (its history stays readable).`,
          affected,
          blocked: null,
        };
      }
      const definition = diff.fields.filter((f) => DEFINITION.includes(f) || f === "eventType");
      if (definition.length === 0) {
        return { risk: "additive", summary: `Meter ${key}: changes its description.`, affected: [], blocked: null };
      }
      const summary = `Meter ${key}: changes its ${definition.join(", ")}.`;
      if (definition.includes("eventType")) {
        return {
          risk: "destructive",
          summary,
          affected,
          blocked: `A meter's event type cannot change: archive ${key} and add a meter with a new key.`,
        };
      }
      if (recorded.events > 0) {
        return {
          risk: "destructive",
          summary,
          affected,
          blocked: `Meter ${key} has events, so its definition is fixed: add a meter with a new key instead.`,
        };
      }
      return { risk: "behaviour", summary, affected, blocked: null };
    },
    async apply(tx, ctx, environmentId, diff) {
      if (diff.action === "create") {
        const after = diff.after as MeterItem;
        await meters.insertMeter(tx, ctx, environmentId, { ...after, valuePath: after.valuePath ?? undefined });
        return;
      }
      const row = await meters.row(environmentId, diff.key, tx, true);
      if (diff.action === "delete") await meters.archiveIn(tx, ctx, environmentId, row.id);
      else {
        const after = diff.after as MeterItem;
        await meters.changeMeter(tx, ctx, environmentId, row.id, {
          description: after.description,
          aggregation: after.aggregation,
          valuePath: after.valuePath,
          groupBy: after.groupBy,
        });
      }
    },
  };
}
