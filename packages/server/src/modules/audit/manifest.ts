import { z } from "zod";
import type { Tx } from "../../platform/db/db.js";
import { AppError, PlatformErrors } from "../../platform/errors.js";
import type { ManifestAssessment, ManifestSection } from "../../platform/manifest.js";
import { UpdateSettingsInput } from "./schemas.js";
import type { AuditService } from "./service.js";

/** ENVIRONMENT_KEY names the one item of the section: the settings belong to the environment. */
export const ENVIRONMENT_KEY = "environment";

/** AuditSettingsItem is the environment's audit settings as the manifest declares them (one item). */
export const AuditSettingsItem = z.strictObject({
  key: z
    .literal(ENVIRONMENT_KEY)
    .describe("Always `environment`: the settings are the environment's, so the section holds one item."),
  retentionDays: UpdateSettingsInput.shape.retentionDays
    .default(null)
    .describe("How long entries are kept: 30 or 365 days; null keeps them forever."),
});
export type AuditSettingsItem = z.infer<typeof AuditSettingsItem>;

const DAY_MS = 86_400_000;
const kept = (days: number | null) => (days === null ? "forever" : `${days} days`);

/**
 * auditSettingsSection: the environment's audit settings (its retention), one item keyed
 * `environment`, managed by whoever the API lets change them (`audit:manage`, environment-wide:
 * secret keys and operators acting in the environment). Shortening the retention is destructive
 * (the daily prune deletes the entries it no longer keeps); lengthening it is behaviour. The
 * settings cannot be removed, only changed: leaving the item out is blocked.
 */
export function auditSettingsSection(service: AuditService): ManifestSection<AuditSettingsItem> {
  const settings = service.settings;
  const m = service.context;
  const current = async (environmentId: string, tx?: Tx): Promise<AuditSettingsItem> => ({
    key: ENVIRONMENT_KEY,
    retentionDays: (await settings.readSettings(environmentId, tx)).retentionDays as AuditSettingsItem["retentionDays"],
  });
  return {
    name: "auditSettings",
    description: "The environment's audit settings (retention of its audit entries): one item, keyed `environment`.",
    item: AuditSettingsItem,
    keyOf: (i) => i.key,
    normalize: (i) => ({ key: i.key, retentionDays: i.retentionDays ?? null }),
    guard(ctx, mode) {
      const { principal } = m.access.environment(ctx, mode === "read" ? "audit:read" : "audit:manage");
      // As the API: the settings are the whole environment's, never a tenant credential's.
      if (mode === "write" && principal.tenantId) {
        throw new AppError(
          PlatformErrors.forbidden,
          "This setting belongs to the environment; a tenant credential cannot change it.",
        );
      }
    },
    lock: (tx) => m.db.lockTable(tx, "audit_settings"),
    live: async (environmentId, tx) => [await current(environmentId, tx)],
    async assess(environmentId, diff, tx): Promise<ManifestAssessment> {
      if (diff.action === "delete") {
        return {
          risk: "behaviour",
          summary: "Removes the environment's audit settings.",
          affected: [],
          blocked: `The environment's audit settings cannot be removed, only changed: keep the item \`${ENVIRONMENT_KEY}\` (retentionDays null keeps entries forever).`,
        };
      }
      // Every environment has settings (the defaults until set), so a `create` changes them too.
      const before = (diff.before as AuditSettingsItem | null) ?? (await current(environmentId, tx));
      const after = diff.after as AuditSettingsItem;
      const from = before.retentionDays ?? Number.POSITIVE_INFINITY;
      const to = after.retentionDays ?? Number.POSITIVE_INFINITY;
      const summary = `Keeps audit entries ${kept(after.retentionDays)} instead of ${kept(before.retentionDays)}`;
      if (to < from) {
        const cutoff = m.clock.now() - (after.retentionDays as number) * DAY_MS;
        const older = await settings.entriesOlderThan(environmentId, cutoff, tx);
        return {
          risk: "destructive",
          summary: `${summary}: the daily prune deletes entries older than that (once checkpointed).`,
          affected:
            older > 0
              ? [
                  {
                    count: older,
                    what: `audit entries older than ${after.retentionDays} days, deleted at the next prune`,
                  },
                ]
              : [],
          blocked: null,
        };
      }
      return {
        risk: to > from ? "behaviour" : "additive",
        summary: `${summary} (entries already pruned do not come back).`,
        affected: [],
        blocked: null,
      };
    },
    async apply(tx, ctx, environmentId, diff) {
      const after = diff.after as AuditSettingsItem;
      await settings.changeSettings(tx, ctx, environmentId, { retentionDays: after.retentionDays });
    },
  };
}
