import type { ChangeBus } from "./db/bus.js";

export interface OwnedEntry<V> {
  value: V;
  /** validUntil: the value's own expiry (a credential's expiry), epoch ms. */
  validUntil: number;
  /** owners: ids whose change must evict this entry (credential, user, tenant, surface, environment). */
  owners: string[];
  cachedAt: number;
}

/**
 * OwnedCache keeps values derived from database rows (resolved principals, a tenant's state, a
 * user's permissions in a tenant) for a short time so hot reads skip the database. It never serves
 * a value whose owner changed: writers publish the owner's id on one of `topics` through the change
 * bus inside their transaction, which evicts before and after the commit, in this process and in
 * every other. While the bus is unhealthy the cache is bypassed, and entries live at most `ttlMs`
 * as a last line of defence. A lookup that raced an eviction is not cached: callers read
 * `generation` before their database lookup and pass it to `set`, which drops the entry if anything
 * was evicted meanwhile. A payload of `*` clears everything.
 */
export class OwnedCache<V> {
  readonly #entries = new Map<string, OwnedEntry<V>>();
  readonly #byOwner = new Map<string, Set<string>>();
  #generation = 0;
  /** #evictions counts evictions per owner (see `stamp`); #epoch changes when they are forgotten. */
  readonly #evictions = new Map<string, number>();
  #epoch = 0;

  constructor(
    private readonly bus: ChangeBus,
    topics: readonly string[],
    private readonly ttlMs = 30_000,
    private readonly maxEntries = 50_000,
  ) {
    for (const topic of topics) {
      bus.subscribe(topic, (owner) => (owner === "*" ? this.clear() : this.evictOwner(owner)));
    }
  }

  get(key: string, now: number): OwnedEntry<V> | null {
    if (!this.bus.healthy) return null;
    const entry = this.#entries.get(key);
    if (!entry) return null;
    if (entry.validUntil <= now || now - entry.cachedAt > this.ttlMs) {
      this.#delete(key);
      return null;
    }
    return entry;
  }

  /** generation changes on every eviction; read it before the lookup whose result goes to `set`. */
  get generation(): number {
    return this.#generation;
  }

  /**
   * stamp is a narrower `generation`: it changes only when one of `owners` is evicted (or the cache
   * is cleared). A lookup whose owners are known up front reads it before the database and passes
   * it to `setStamped`, so evictions of unrelated owners (another tenant's usage) do not keep its
   * result out of the cache.
   */
  stamp(owners: readonly string[]): string {
    let out = String(this.#epoch);
    for (const owner of owners) out += `:${this.#evictions.get(owner) ?? 0}`;
    return out;
  }

  /** setStamped caches `entry` unless the bus is down or one of its owners was evicted since `stamp`. */
  setStamped(key: string, entry: OwnedEntry<V>, stamp: string): void {
    if (stamp !== this.stamp(entry.owners)) return;
    this.set(key, entry, this.#generation);
  }

  /** set caches `entry` unless the bus is down or an eviction happened since `generation` was read. */
  set(key: string, entry: OwnedEntry<V>, generation: number): void {
    if (!this.bus.healthy || generation !== this.#generation) return;
    if (this.#entries.size >= this.maxEntries) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#delete(oldest);
    }
    this.#delete(key);
    this.#entries.set(key, entry);
    for (const owner of entry.owners) {
      const set = this.#byOwner.get(owner) ?? new Set<string>();
      this.#byOwner.set(owner, set);
      set.add(key);
    }
  }

  evictOwner(owner: string): void {
    this.#generation++;
    if (this.#evictions.size >= 100_000) {
      this.#evictions.clear();
      this.#epoch++;
    }
    this.#evictions.set(owner, (this.#evictions.get(owner) ?? 0) + 1);
    for (const key of this.#byOwner.get(owner) ?? []) this.#delete(key);
    this.#byOwner.delete(owner);
  }

  clear(): void {
    this.#generation++;
    this.#epoch++;
    this.#evictions.clear();
    this.#entries.clear();
    this.#byOwner.clear();
  }

  get size(): number {
    return this.#entries.size;
  }

  #delete(key: string): void {
    const entry = this.#entries.get(key);
    if (!entry) return;
    this.#entries.delete(key);
    for (const owner of entry.owners) this.#byOwner.get(owner)?.delete(key);
  }
}
