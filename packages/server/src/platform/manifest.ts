import type { ZodType } from "zod";
import { canonicalJson } from "./canonical-json.js";
import type { Tx } from "./db/db.js";
import type { ActionContext } from "./principal.js";

/**
 * The manifest seam (DESIGN.md §2, "Configuration as a manifest"): every module that owns an
 * environment's configuration declares it as one or more *sections* of the manifest, a list of
 * items named by a key (roles by `key`, meters by `key`, surfaces by `name`). The manifest module
 * knows no section: it exports them, diffs a desired manifest against them, asks each section to
 * classify and count what a change would affect, and applies the changes in one transaction the
 * sections write into. The manifest grows with the modules instead of one file knowing them all.
 */

/** ManifestRisk classifies a change: nothing that works stops working, behaviour changes, or something in use is lost. */
export type ManifestRisk = "additive" | "behaviour" | "destructive";
export const MANIFEST_RISKS: readonly ManifestRisk[] = ["additive", "behaviour", "destructive"];

export type ManifestAction = "create" | "update" | "delete";

/** ManifestDiff is one difference between an environment's live configuration and the manifest, by key. */
export interface ManifestDiff<Item> {
  action: ManifestAction;
  key: string;
  /** before is the live item (null for `create`). */
  before: Item | null;
  /** after is the manifest's item (null for `delete`). */
  after: Item | null;
  /** fields lists the item's top-level fields that differ (every field of a created or deleted item). */
  fields: string[];
}

/** ManifestAffected counts what a change touches: `{ count: 42, what: "memberships hold role analyst" }`. */
export interface ManifestAffected {
  count: number;
  what: string;
}

/** ManifestAssessment is a section's verdict on one change. */
export interface ManifestAssessment {
  risk: ManifestRisk;
  /** summary says what the change does in a sentence ("Removes 2 permissions from role `analyst`."). */
  summary: string;
  affected: ManifestAffected[];
  /** blocked is why applying the change would be refused (e.g. a role still held); null when it can be applied. */
  blocked: string | null;
}

/**
 * ManifestSection is one part of an environment's configuration as a module declares it.
 * Items are plain data in the manifest's own shape (no ids, no timestamps): what a person writes.
 */
export interface ManifestSection<Item = unknown> {
  /** name is the section's key in the manifest (`roles`), unique across the plane. */
  name: string;
  /** description says what the section declares (it becomes the JSON Schema's description). */
  description: string;
  /** item validates one item as written (defaults fill in what may be left out). */
  item: ZodType<Item>;
  /** keyOf names an item: two items of a section never share a key. */
  keyOf(item: Item): string;
  /**
   * normalize puts an item in the one form comparisons use (sorted sets, de-duplicated lists): it
   * is applied to the live items and to the manifest's alike.
   */
  normalize(item: Item): Item;
  /** guard throws the access refusal unless the caller may read (`read`) or change (`write`) the section. */
  guard(ctx: ActionContext, mode: "read" | "write"): void;
  /**
   * lock keeps other transactions from changing the section's objects in the environment until `tx`
   * ends, so what `live` reads in it still holds when the apply commits.
   */
  lock(tx: Tx): Promise<void>;
  /** live lists the environment's items (archived ones left out), read in `tx` when given. */
  live(environmentId: string, tx?: Tx): Promise<Item[]>;
  /** assess classifies one change and counts what it affects (read in `tx` when given). */
  assess(environmentId: string, diff: ManifestDiff<Item>, tx?: Tx): Promise<ManifestAssessment>;
  /** apply makes one change in `tx`, recording its fact as the module's own API would. */
  apply(tx: Tx, ctx: ActionContext, environmentId: string, diff: ManifestDiff<Item>): Promise<void>;
}

// biome-ignore lint/suspicious/noExplicitAny: the registry holds sections of every item type.
export type AnySection = ManifestSection<any>;

/** ManifestRegistry collects the modules' sections, in module dependency order. */
export class ManifestRegistry {
  readonly #sections = new Map<string, { module: string; section: AnySection }>();

  register(module: string, sections: readonly AnySection[]): void {
    for (const section of sections) {
      if (!/^[a-z][a-zA-Z0-9]*$/.test(section.name))
        throw new Error(`Manifest section "${section.name}" is not a name`);
      const taken = this.#sections.get(section.name);
      if (taken) throw new Error(`Manifest section "${section.name}" is declared by ${taken.module} and ${module}`);
      this.#sections.set(section.name, { module, section });
    }
  }

  /** sections lists every declared section, in module dependency order (the order changes apply in). */
  sections(): AnySection[] {
    return [...this.#sections.values()].map((s) => s.section);
  }

  get(name: string): AnySection | undefined {
    return this.#sections.get(name)?.section;
  }
}

/**
 * diffSection compares a section's live items with the manifest's, by key: items only in the
 * manifest are created, items only live are deleted, items in both whose fields differ (compared
 * as canonical JSON, after `normalize`) are updated. Changes come creates first, then updates,
 * then deletes, each in key order.
 */
export function diffSection<Item>(
  section: ManifestSection<Item>,
  live: readonly Item[],
  desired: readonly Item[],
): ManifestDiff<Item>[] {
  const liveByKey = new Map(live.map((i) => [section.keyOf(i), section.normalize(i)]));
  const desiredByKey = new Map(desired.map((i) => [section.keyOf(i), section.normalize(i)]));
  const creates: ManifestDiff<Item>[] = [];
  const updates: ManifestDiff<Item>[] = [];
  const deletes: ManifestDiff<Item>[] = [];
  for (const [key, after] of desiredByKey) {
    const before = liveByKey.get(key);
    if (!before) {
      creates.push({ action: "create", key, before: null, after, fields: Object.keys(after as object).sort() });
      continue;
    }
    const fields = differingFields(before, after);
    if (fields.length > 0) updates.push({ action: "update", key, before, after, fields });
  }
  for (const [key, before] of liveByKey) {
    if (!desiredByKey.has(key)) {
      deletes.push({ action: "delete", key, before, after: null, fields: Object.keys(before as object).sort() });
    }
  }
  const byKey = (a: { key: string }, b: { key: string }) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
  return [...creates.sort(byKey), ...updates.sort(byKey), ...deletes.sort(byKey)];
}

/** differingFields lists the top-level fields whose values differ as canonical JSON. */
export function differingFields(before: unknown, after: unknown): string[] {
  const a = before as Record<string, unknown>;
  const b = after as Record<string, unknown>;
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys].filter((k) => canonicalJson(a[k] ?? null) !== canonicalJson(b[k] ?? null)).sort();
}

/**
 * Permission sets (roles' permissions, surfaces' scope ceilings) compare by what they grant:
 * `*` covers everything, `resource:*` every action of the resource, `*:action` the action on
 * every resource.
 */
export function permissionCovered(granted: readonly string[], permission: string): boolean {
  if (granted.includes("*") || granted.includes(permission)) return true;
  const [resource, action] = permission.split(":");
  return granted.includes(`${resource}:*`) || granted.includes(`*:${action}`);
}

/** narrowed lists what `before` granted that `after` no longer does. */
export function narrowed(before: readonly string[], after: readonly string[]): string[] {
  return before.filter((p) => !permissionCovered(after, p));
}

/** sortedSet de-duplicates and sorts a list of strings. */
export function sortedSet(values: readonly string[]): string[] {
  return [...new Set(values)].sort();
}

/** plural: "1 membership", "42 memberships". */
export function plural(count: number, one: string, many = `${one}s`): string {
  return `${count} ${count === 1 ? one : many}`;
}
