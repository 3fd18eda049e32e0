import { createHash } from "node:crypto";
import type { z } from "zod";
import { canonicalJson } from "../../platform/canonical-json.js";
import type { Tx } from "../../platform/db/db.js";
import { AppError, type FieldError, PlatformErrors } from "../../platform/errors.js";
import { fieldErrors } from "../../platform/http/problem.js";
import {
  type AnySection,
  diffSection,
  type ManifestAssessment,
  type ManifestDiff,
  type ManifestRisk,
} from "../../platform/manifest.js";
import type { ModuleContext } from "../../platform/module.js";
import type { ActionContext } from "../../platform/principal.js";
import { ManifestErrors } from "./errors.js";
import type { ApplyInput, ManifestChange, PlanInput } from "./schemas.js";

type Items = Record<string, unknown[]>;
type Change = z.infer<typeof ManifestChange>;
type Planned = { section: AnySection; diff: ManifestDiff<unknown>; assessment: ManifestAssessment };

/** hashOf is `sha256:` and the hex SHA-256 of a value's canonical JSON. */
export function hashOf(value: unknown): string {
  return `sha256:${createHash("sha256").update(canonicalJson(value)).digest("hex")}`;
}

/**
 * ManifestService exports an environment's configuration as a manifest, plans a manifest against
 * it (changes classified by risk, with what they affect) and applies it: in one transaction, on
 * the sections' locked tables, refused when the configuration moved since the plan (`liveHash`),
 * when a change would be refused, or when a change is destructive and not allowed. Every change
 * records its module's own fact; the apply records `manifest.applied` with the manifest's hash.
 * The sections are the modules' (platform/manifest.ts): this service knows none of them.
 */
export class ManifestService {
  constructor(private readonly m: ModuleContext) {}

  /** sections lists the plane's manifest sections, in the order changes apply. */
  sections(): AnySection[] {
    return this.m.manifest.sections();
  }

  async export(ctx: ActionContext) {
    const { environmentId } = this.m.access.environment(ctx, "manifest:read");
    const manifest: Items = {};
    const omitted: Array<{ section: string; reason: string }> = [];
    for (const section of this.sections()) {
      const refusal = this.#refusal(ctx, section, "read");
      if (refusal) {
        omitted.push({ section: section.name, reason: refusal });
        continue;
      }
      try {
        manifest[section.name] = await this.#live(section, environmentId);
      } catch (err) {
        // A section whose live objects cannot be told apart by key cannot be exported (nor
        // planned): the rest of the configuration still is, and the reason is given.
        if (!(err instanceof AppError) || err.code !== ManifestErrors.manifest_ambiguous.code) throw err;
        omitted.push({ section: section.name, reason: err.message });
      }
    }
    return { environmentId, manifest, liveHash: hashOf(manifest), omitted };
  }

  async plan(ctx: ActionContext, input: z.infer<typeof PlanInput>) {
    const { environmentId } = this.m.access.environment(ctx, "manifest:read");
    const desired = this.#parse(input.manifest);
    for (const section of desired.sections) section.guard(ctx, "read");
    const live: Items = {};
    const planned: Planned[] = [];
    for (const section of desired.sections) {
      live[section.name] = await this.#live(section, environmentId);
      planned.push(...(await this.#diff(section, environmentId, live[section.name] as unknown[], desired.items)));
    }
    return this.#result(environmentId, desired, hashOf(live), planned);
  }

  async apply(ctx: ActionContext, input: z.infer<typeof ApplyInput>) {
    const { environmentId } = this.m.access.environment(ctx, "manifest:apply");
    const desired = this.#parse(input.manifest);
    for (const section of desired.sections) section.guard(ctx, "write");
    return this.m.db.write(ctx, async (tx) => {
      // Locked first, in the sections' one order (so two applies never wait on each other's
      // locks), then read: what the hash is taken over holds until this transaction ends.
      for (const section of desired.sections) await section.lock(tx);
      const live: Items = {};
      const planned: Planned[] = [];
      for (const section of desired.sections) {
        live[section.name] = await this.#live(section, environmentId, tx);
        planned.push(...(await this.#diff(section, environmentId, live[section.name] as unknown[], desired.items, tx)));
      }
      const liveHashBefore = hashOf(live);
      if (liveHashBefore !== input.liveHash) {
        throw new AppError(
          ManifestErrors.manifest_stale,
          `The configuration changed since this plan was made (it is now ${liveHashBefore}): plan again, review the new plan, and apply it.`,
        );
      }
      const blocked = planned.filter((p) => p.assessment.blocked !== null);
      if (blocked.length > 0) {
        throw new AppError(
          ManifestErrors.manifest_blocked,
          `${blocked.length} change(s) would be refused; nothing was applied.`,
          {
            errors: blocked.map((p) => ({
              path: `manifest.${p.section.name}.${p.diff.key}`,
              message: p.assessment.blocked as string,
              code: "blocked",
            })),
          },
        );
      }
      const destructive = planned.filter((p) => p.assessment.risk === "destructive");
      if (destructive.length > 0 && !input.allowDestructive) {
        throw new AppError(
          ManifestErrors.manifest_destructive,
          `${destructive.length} change(s) are destructive; apply with allowDestructive to make them. Nothing was applied.`,
          {
            errors: destructive.map((p) => ({
              path: `manifest.${p.section.name}.${p.diff.key}`,
              message: p.assessment.summary,
              code: "destructive",
            })),
          },
        );
      }
      for (const p of planned) {
        try {
          await p.section.apply(tx, ctx, environmentId, p.diff);
        } catch (err) {
          // A refusal the assessment could not foresee (the module's own check, made in the
          // write): the whole apply rolls back, and the caller sees which change was refused.
          if (!(err instanceof AppError) || err.status >= 500) throw err;
          const path = `manifest.${p.section.name}.${p.diff.key}`;
          throw new AppError(ManifestErrors.manifest_blocked, `${path}: ${err.message} Nothing was applied.`, {
            errors: [{ path, message: err.message, code: err.code }],
          });
        }
      }
      const after: Items = {};
      for (const section of desired.sections) after[section.name] = await this.#live(section, environmentId, tx);
      const result = this.#result(environmentId, desired, hashOf(after), planned);
      await this.m.facts.record(tx, ctx, {
        type: "manifest.applied",
        environmentId,
        targets: [{ type: "environment", id: environmentId }],
        data: {
          manifestHash: result.manifestHash,
          liveHashBefore,
          liveHashAfter: result.liveHash,
          sections: result.sections,
          changes: result.summary.changes,
          additive: result.summary.additive,
          behaviour: result.summary.behaviour,
          destructive: result.summary.destructive,
        },
      });
      return { ...result, liveHashBefore };
    });
  }

  /** #refusal is why the caller may not use a section (its guard's refusal), or null. */
  #refusal(ctx: ActionContext, section: AnySection, mode: "read" | "write"): string | null {
    try {
      section.guard(ctx, mode);
      return null;
    } catch (err) {
      if (err instanceof AppError && err.status === 403) return err.message;
      throw err;
    }
  }

  /** #live reads a section's live items, normalized, by key; two objects sharing a key cannot be managed. */
  async #live(section: AnySection, environmentId: string, tx?: Tx): Promise<unknown[]> {
    const items = (await section.live(environmentId, tx)).map((i) => section.normalize(i));
    const seen = new Set<string>();
    for (const item of items) {
      const key = section.keyOf(item);
      if (seen.has(key)) {
        throw new AppError(
          ManifestErrors.manifest_ambiguous,
          `Two live ${section.name} share the key "${key}": rename or archive one before managing ${section.name} with a manifest.`,
        );
      }
      seen.add(key);
    }
    return items.sort((a, b) => compareKeys(section.keyOf(a), section.keyOf(b)));
  }

  async #diff(
    section: AnySection,
    environmentId: string,
    live: unknown[],
    desired: Items,
    tx?: Tx,
  ): Promise<Planned[]> {
    const diffs = diffSection(section, live, desired[section.name] as unknown[]);
    const out: Planned[] = [];
    for (const diff of diffs) out.push({ section, diff, assessment: await section.assess(environmentId, diff, tx) });
    return out;
  }

  /** #parse validates each section of a manifest with its module's item schema; keys must be unique. */
  #parse(manifest: Record<string, unknown[]>): { sections: AnySection[]; items: Items; hash: string } {
    const errors: FieldError[] = [];
    const items: Items = {};
    for (const [name, raw] of Object.entries(manifest)) {
      const section = this.m.manifest.get(name);
      if (!section) {
        const known = this.sections().map((s) => s.name);
        errors.push({
          path: `body.manifest.${name}`,
          message: `is not a section (sections: ${known.join(", ")})`,
          code: "unknown_section",
        });
        continue;
      }
      const parsed: unknown[] = [];
      const keys = new Map<string, number>();
      raw.forEach((value, i) => {
        const result = section.item.safeParse(value);
        if (!result.success) {
          errors.push(...fieldErrors(result.error, `body.manifest.${name}.${i}`));
          return;
        }
        const item = section.normalize(result.data);
        const key = section.keyOf(item);
        const first = keys.get(key);
        if (first !== undefined) {
          errors.push({
            path: `body.manifest.${name}.${i}`,
            message: `repeats the key "${key}" of item ${first}`,
            code: "duplicate_key",
          });
          return;
        }
        keys.set(key, i);
        parsed.push(item);
      });
      items[name] = parsed.sort((a, b) => compareKeys(section.keyOf(a), section.keyOf(b)));
    }
    if (errors.length > 0) {
      const first = errors[0] as { path: string; message: string };
      throw new AppError(PlatformErrors.validation_failed, `${first.path}: ${first.message}`, {
        errors: errors.slice(0, 50),
      });
    }
    const sections = this.sections().filter((s) => s.name in items);
    const ordered: Items = Object.fromEntries(sections.map((s) => [s.name, items[s.name] as unknown[]]));
    return { sections, items: ordered, hash: hashOf(ordered) };
  }

  #result(
    environmentId: string,
    desired: { sections: AnySection[]; hash: string },
    liveHash: string,
    planned: Planned[],
  ) {
    const changes: Change[] = planned.map(({ section, diff, assessment }) => ({
      section: section.name,
      action: diff.action,
      key: diff.key,
      risk: assessment.risk,
      summary: assessment.summary,
      fields: diff.fields,
      before: diff.before as Record<string, unknown> | null,
      after: diff.after as Record<string, unknown> | null,
      affected: assessment.affected,
      blocked: assessment.blocked,
    }));
    const count = (risk: ManifestRisk) => changes.filter((c) => c.risk === risk).length;
    return {
      environmentId,
      manifestHash: desired.hash,
      liveHash,
      sections: desired.sections.map((s) => s.name),
      changes,
      summary: {
        changes: changes.length,
        additive: count("additive"),
        behaviour: count("behaviour"),
        destructive: count("destructive"),
        blocked: changes.filter((c) => c.blocked !== null).length,
      },
    };
  }
}

function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
