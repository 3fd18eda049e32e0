import { z } from "zod";
import { AppError } from "../../platform/errors.js";
import { type ManifestAssessment, type ManifestSection, narrowed, sortedSet } from "../../platform/manifest.js";
import { TenancyErrors } from "./errors.js";
import { Name, Origin, Permission, SurfaceKind } from "./schemas.js";
import type { TenancyService } from "./service.js";

/** SurfaceItem is a surface as the manifest declares it, named by its name. */
export const SurfaceItem = z.strictObject({
  name: Name.describe("The surface's name: the manifest's key for it (renaming is archiving and creating)."),
  kind: SurfaceKind,
  allowedOrigins: z.array(Origin).max(50).default([]).describe("Browser origins allowed to call the API for it."),
  scopeCeiling: z
    .array(Permission)
    .min(1)
    .max(200)
    .default(["*"])
    .describe("No credential issued through the surface can do more than this."),
  selfSignup: z.boolean().default(false).describe("Whether end users may sign up themselves through it."),
});
export type SurfaceItem = z.infer<typeof SurfaceItem>;

const quote = (values: readonly string[]) => values.map((v) => `\`${v}\``).join(", ");

/**
 * surfacesSection: the environment's product surfaces (operators only, as their API is).
 * Tightening a scope ceiling or archiving a surface is destructive: credentials issued through it
 * lose what they could do at once.
 */
export function surfacesSection(service: TenancyService): ManifestSection<SurfaceItem> {
  const surfaces = service.surfaces;
  const m = service.context;
  const byName = async (environmentId: string, name: string, tx?: Parameters<typeof surfaces.liveSurfaces>[1]) => {
    const found = (await surfaces.liveSurfaces(environmentId, tx)).find((s) => s.name === name);
    if (!found) throw new AppError(TenancyErrors.surface_not_found, `No surface named "${name}".`);
    return found;
  };
  return {
    name: "surfaces",
    description: "Product surfaces (web apps, APIs, agents): their origins, scope ceilings and sign-up.",
    item: SurfaceItem,
    keyOf: (s) => s.name,
    normalize: (s) => ({ ...s, allowedOrigins: sortedSet(s.allowedOrigins), scopeCeiling: sortedSet(s.scopeCeiling) }),
    guard: (ctx, mode) => void m.access.operator(ctx, mode === "read" ? "surfaces:read" : "surfaces:write"),
    lock: (tx) => m.db.lockTable(tx, "surface"),
    live: async (environmentId, tx) =>
      (await surfaces.liveSurfaces(environmentId, tx)).map((s) => ({
        name: s.name,
        kind: s.kind,
        allowedOrigins: s.allowedOrigins,
        scopeCeiling: s.scopeCeiling,
        selfSignup: s.selfSignup,
      })),
    async assess(_environmentId, diff): Promise<ManifestAssessment> {
      const key = `\`${diff.key}\``;
      if (diff.action === "create") {
        return { risk: "additive", summary: `Adds ${diff.after?.kind} surface ${key}.`, affected: [], blocked: null };
      }
      if (diff.action === "delete") {
        return {
          risk: "destructive",
          summary: `Archives surface ${key}: sign-in through it stops and the keys issued through it are refused.`,
          affected: [],
          blocked: null,
        };
      }
      const before = diff.before as SurfaceItem;
      const after = diff.after as SurfaceItem;
      if (before.kind !== after.kind) {
        return {
          risk: "destructive",
          summary: `Surface ${key}: changes its kind from ${before.kind} to ${after.kind}.`,
          affected: [],
          blocked: `A surface's kind cannot change: add a surface with another name and archive ${key}.`,
        };
      }
      const tightened = narrowed(before.scopeCeiling, after.scopeCeiling);
      const widened = narrowed(after.scopeCeiling, before.scopeCeiling);
      const originsGone = before.allowedOrigins.filter((o) => !after.allowedOrigins.includes(o));
      const originsNew = after.allowedOrigins.filter((o) => !before.allowedOrigins.includes(o));
      const parts: string[] = [];
      if (tightened.length > 0) parts.push(`tightens its scope ceiling (no longer ${quote(tightened)})`);
      if (widened.length > 0) parts.push(`widens its scope ceiling (${quote(widened)})`);
      if (originsGone.length > 0) parts.push(`refuses browsers at ${quote(originsGone)}`);
      if (originsNew.length > 0) parts.push(`allows browsers at ${quote(originsNew)}`);
      if (before.selfSignup !== after.selfSignup)
        parts.push(after.selfSignup ? "opens self sign-up" : "closes self sign-up");
      if (parts.length === 0) parts.push("rewrites its scope ceiling without changing what it allows");
      const summary = `Surface ${key}: ${parts.join("; ")}.`;
      const risk =
        tightened.length > 0
          ? "destructive"
          : widened.length + originsGone.length + originsNew.length > 0 || before.selfSignup !== after.selfSignup
            ? "behaviour"
            : "additive";
      return { risk, summary, affected: [], blocked: null };
    },
    async apply(tx, ctx, environmentId, diff) {
      if (diff.action === "create") {
        await surfaces.insertSurface(tx, ctx, environmentId, diff.after as SurfaceItem);
        return;
      }
      const surface = await byName(environmentId, diff.key, tx);
      if (diff.action === "delete") await surfaces.archiveIn(tx, ctx, surface.id);
      else {
        const after = diff.after as SurfaceItem;
        await surfaces.changeSurface(tx, ctx, surface.id, {
          allowedOrigins: after.allowedOrigins,
          scopeCeiling: after.scopeCeiling,
          selfSignup: after.selfSignup,
        });
      }
    },
  };
}
