import type { Principal } from "./principal.js";

const PERMISSION = /^(\*|[a-z][a-z0-9_]*(:(\*|[a-z][a-z0-9_]*))?|\*:[a-z][a-z0-9_]*)$/;

/** isPermission reports whether `value` is a well-formed permission or pattern. */
export function isPermission(value: string): boolean {
  return PERMISSION.test(value) && (value === "*" || value.includes(":"));
}

/**
 * permits reports whether the granted patterns allow `required` (`resource:action`).
 * Patterns: `*` (everything), `resource:*` (every action on a resource), `*:action` (one action on
 * every resource), `resource:action`. Matching is exact otherwise; it never throws.
 */
export function permits(granted: readonly string[], required: string): boolean {
  const colon = required.indexOf(":");
  if (colon <= 0) return false;
  const resource = required.slice(0, colon);
  const action = required.slice(colon + 1);
  for (const g of granted) {
    if (g === "*" || g === required || g === `${resource}:*` || g === `*:${action}`) return true;
  }
  return false;
}

/**
 * principalPermits applies a principal's permissions and, when it has one, its ceiling (the
 * surface's scope ceiling, or a delegating user's permissions): both must allow the permission.
 */
export function principalPermits(principal: Principal, required: string): boolean {
  if (!permits(principal.permissions, required)) return false;
  return principal.ceiling === undefined || permits(principal.ceiling, required);
}

/**
 * exceeding returns the patterns of `requested` that `ceiling` does not allow, for checking that a
 * new credential's scopes stay within its issuer's (a pattern is allowed only if the ceiling allows
 * it as a whole: `invoices:*` needs `invoices:*` or `*`).
 */
export function exceeding(requested: readonly string[], ceiling: readonly string[]): string[] {
  return requested.filter((p) => {
    if (p === "*") return !ceiling.includes("*");
    const [resource, action] = p.split(":") as [string, string];
    if (resource === "*") return !(ceiling.includes("*") || ceiling.includes(p));
    if (action === "*") return !(ceiling.includes("*") || ceiling.includes(p));
    return !permits(ceiling, p);
  });
}

/**
 * PermissionSet is a compiled list of granted patterns: `has` answers `permits` with four set
 * lookups whatever the number of grants (the hot path of every tenant-scoped request).
 */
export class PermissionSet {
  readonly #grants: ReadonlySet<string>;
  readonly patterns: readonly string[];

  constructor(patterns: Iterable<string>) {
    this.patterns = [...new Set(patterns)].sort();
    this.#grants = new Set(this.patterns);
  }

  has(required: string): boolean {
    const g = this.#grants;
    const colon = required.indexOf(":");
    if (colon <= 0) return false;
    return (
      g.has("*") || g.has(required) || g.has(`${required.slice(0, colon)}:*`) || g.has(`*${required.slice(colon)}`)
    );
  }
}

/**
 * intersectPermissions returns the patterns granted by both lists: for every pair, the more
 * specific of two nested patterns, or `resource:action` for `resource:*` and `*:action`. It is
 * exact: `permits(result, p) === permits(a, p) && permits(b, p)` for every permission `p`. Used for
 * agent keys (the key's scope ∩ the delegating user's current permissions).
 */
export function intersectPermissions(a: readonly string[], b: readonly string[]): string[] {
  const split = (p: string): [string, string] => {
    if (p === "*") return ["*", "*"];
    const i = p.indexOf(":");
    return [p.slice(0, i), p.slice(i + 1)];
  };
  const meet = (x: string, y: string): string | null => (x === "*" ? y : y === "*" || x === y ? x : null);
  const out = new Set<string>();
  for (const pa of a) {
    const [ra, aa] = split(pa);
    for (const pb of b) {
      const [rb, ab] = split(pb);
      const r = meet(ra, rb);
      const act = meet(aa, ab);
      if (r === null || act === null) continue;
      out.add(r === "*" && act === "*" ? "*" : `${r}:${act}`);
    }
  }
  return [...out].sort();
}
