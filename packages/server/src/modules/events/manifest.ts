import { z } from "zod";
import { canonicalJson } from "../../platform/canonical-json.js";
import type { Tx } from "../../platform/db/db.js";
import { AppError } from "../../platform/errors.js";
import { JsonSchemaInput } from "../../platform/json-schema.js";
import { type ManifestAssessment, type ManifestSection, plural } from "../../platform/manifest.js";
import { EventsErrors } from "./errors.js";
import { CreateEventTypeInput, UpdateEventSettingsInput } from "./schemas.js";
import type { EventsService } from "./service.js";

/** EventTypeItem is an event type the environment registers, as the manifest declares it. */
export const EventTypeItem = z.strictObject({
  name: CreateEventTypeInput.shape.name.describe(
    "The type's name (`noun.past_verb`): the manifest's key for it. The plane's own types are not declared.",
  ),
  description: CreateEventTypeInput.shape.description,
  schema: JsonSchemaInput.nullable()
    .default(null)
    .describe("The JSON Schema (subset) that published `data` must match; null: any object."),
});
export type EventTypeItem = z.infer<typeof EventTypeItem>;

/** SETTINGS_KEY names the one item of the `eventSettings` section. */
export const SETTINGS_KEY = "environment";

/** EventSettingsItem is the environment's event log settings, as the manifest declares them. */
export const EventSettingsItem = z.strictObject({
  key: z.literal(SETTINGS_KEY).describe("Always `environment`: the section holds the environment's one settings item."),
  retentionDays: UpdateEventSettingsInput.shape.retentionDays.describe(
    "How many days events stay in the log before the daily prune deletes them.",
  ),
});
export type EventSettingsItem = z.infer<typeof EventSettingsItem>;

const DAY = 86_400_000;
const same = (a: unknown, b: unknown) => canonicalJson(a ?? null) === canonicalJson(b ?? null);

/**
 * eventTypesSection: the event types the environment registers, with their data schemas. Removing
 * a type from the manifest deprecates it (event types are never deleted): the catalog marks it
 * deprecated, publishing it is still accepted and its events stay in the log, so it is a behaviour
 * change; declaring it again restores it. A schema that changes at all is a behaviour change.
 */
export function eventTypesSection(service: EventsService): ManifestSection<EventTypeItem> {
  const catalog = service.catalog;
  const m = service.context;
  const named = async (environmentId: string, name: string, tx?: Tx) => {
    const found = await catalog.findByName(environmentId, name, tx);
    if (!found?.id) throw new AppError(EventsErrors.event_type_not_found, `No event type named "${name}".`);
    return { ...found, id: found.id };
  };
  return {
    name: "eventTypes",
    description:
      "Event types the environment registers for products to publish, with the JSON Schema their data must match (the plane's own types are not listed). An event type left out is deprecated, never deleted.",
    item: EventTypeItem,
    keyOf: (t) => t.name,
    normalize: (t) => ({ ...t, schema: t.schema ?? null }),
    guard: (ctx, mode) => void m.access.environment(ctx, mode === "read" ? "events:read" : "events:manage"),
    lock: (tx) => m.db.lockTable(tx, "event_type"),
    live: async (environmentId, tx) =>
      (await catalog.liveEventTypes(environmentId, tx)).map((t) => ({
        name: t.name,
        description: t.description,
        schema: t.schema,
      })),
    async assess(environmentId, diff, tx): Promise<ManifestAssessment> {
      const key = `\`${diff.key}\``;
      if (diff.action === "create") {
        const after = diff.after as EventTypeItem;
        if (catalog.isPlaneType(diff.key)) {
          return {
            risk: "additive",
            summary: `Adds event type ${key}.`,
            affected: [],
            blocked: `${key} is one of the plane's own event types: products cannot register it; choose another name.`,
          };
        }
        const deprecated = await catalog.findByName(environmentId, diff.key, tx);
        if (deprecated) {
          const schemaChanges = !same(deprecated.schema, after.schema);
          return {
            risk: schemaChanges ? "behaviour" : "additive",
            summary: `Restores deprecated event type ${key}${schemaChanges ? " with another data schema" : ""}.`,
            affected: [],
            blocked: null,
          };
        }
        return {
          risk: "additive",
          summary: `Adds event type ${key} (${after.schema === null ? "any data object" : "data checked against its schema"}).`,
          affected: [],
          blocked: null,
        };
      }
      if (diff.action === "delete") {
        return {
          risk: "behaviour",
          summary: `Deprecates event type ${key}: the catalog lists it as deprecated; publishing it is still accepted and its events stay in the log.`,
          affected: [],
          blocked: null,
        };
      }
      const after = diff.after as EventTypeItem;
      if (!diff.fields.includes("schema")) {
        return {
          risk: "additive",
          summary: `Event type ${key}: changes its description.`,
          affected: [],
          blocked: null,
        };
      }
      const how =
        after.schema === null
          ? "drops its data schema: any data object is accepted from then on"
          : (diff.before as EventTypeItem).schema === null
            ? "adds a data schema: data that does not match it is refused from then on"
            : "changes its data schema: data is checked against the new one from then on";
      return { risk: "behaviour", summary: `Event type ${key}: ${how} (a new version).`, affected: [], blocked: null };
    },
    async apply(tx, ctx, environmentId, diff) {
      if (diff.action === "create") {
        const after = diff.after as EventTypeItem;
        const deprecated = await catalog.findByName(environmentId, diff.key, tx);
        if (deprecated?.id) {
          await catalog.changeEventType(tx, ctx, environmentId, deprecated.id, {
            deprecated: false,
            ...(after.description !== deprecated.description ? { description: after.description } : {}),
            ...(same(deprecated.schema, after.schema) ? {} : { schema: after.schema }),
          });
          return;
        }
        await catalog.insertEventType(tx, ctx, environmentId, {
          name: after.name,
          description: after.description,
          ...(after.schema === null ? {} : { schema: after.schema }),
        });
        return;
      }
      const type = await named(environmentId, diff.key, tx);
      if (diff.action === "delete") {
        await catalog.changeEventType(tx, ctx, environmentId, type.id, { deprecated: true });
        return;
      }
      const after = diff.after as EventTypeItem;
      await catalog.changeEventType(tx, ctx, environmentId, type.id, {
        ...(diff.fields.includes("description") ? { description: after.description } : {}),
        ...(diff.fields.includes("schema") ? { schema: after.schema } : {}),
      });
    },
  };
}

/**
 * eventSettingsSection: the environment's event log settings, one item keyed `environment` (the
 * retention; the plane's default until set). Shortening the retention is destructive (the next
 * daily prune deletes the events it no longer covers), lengthening it a behaviour change; the
 * settings cannot be removed, only changed.
 */
export function eventSettingsSection(service: EventsService): ManifestSection<EventSettingsItem> {
  const catalog = service.catalog;
  const log = service.log;
  const m = service.context;
  return {
    name: "eventSettings",
    description:
      "The environment's event log settings: one item keyed `environment` holding the retention in days (the plane's default until set). It cannot be removed, only changed.",
    item: EventSettingsItem,
    keyOf: (s) => s.key,
    normalize: (s) => s,
    guard: (ctx) => void m.access.environment(ctx, "events:manage"),
    lock: (tx) => m.db.lockTable(tx, "event_settings"),
    live: async (environmentId, tx) => {
      const settings = await catalog.settingsOf(environmentId, tx);
      return [{ key: SETTINGS_KEY, retentionDays: settings.retentionDays }];
    },
    async assess(environmentId, diff, tx): Promise<ManifestAssessment> {
      if (diff.action === "delete") {
        return {
          risk: "behaviour",
          summary: "Removes the environment's event settings.",
          affected: [],
          blocked: `The event settings cannot be removed, only changed: declare the \`${SETTINGS_KEY}\` item with the retention you want.`,
        };
      }
      // The live section always holds the one item, so a change is an update (a create is read the same way).
      const before = diff.before?.retentionDays ?? (await catalog.settingsOf(environmentId, tx)).retentionDays;
      const after = (diff.after as EventSettingsItem).retentionDays;
      if (after > before) {
        return {
          risk: "behaviour",
          summary: `Keeps events for ${plural(after, "day")} instead of ${before}.`,
          affected: [],
          blocked: null,
        };
      }
      const now = m.clock.now();
      const lost = await log.countOlderThan(environmentId, now - after * DAY, now - before * DAY, tx);
      return {
        risk: "destructive",
        summary: `Shortens the event retention from ${before} to ${plural(after, "day")}: the next daily prune deletes the events older than that.`,
        affected:
          lost > 0
            ? [{ count: lost, what: `events older than ${plural(after, "day")}, deleted at the next prune` }]
            : [],
        blocked: null,
      };
    },
    async apply(tx, ctx, environmentId, diff) {
      // NOTE: never reached: the engine refuses a blocked change before applying anything.
      if (diff.action === "delete") throw new Error("The event settings cannot be removed, only changed.");
      await catalog.changeEventSettings(tx, ctx, environmentId, {
        retentionDays: (diff.after as EventSettingsItem).retentionDays,
      });
    },
  };
}
