import type { ChangeBus } from "../../../platform/db/bus.js";
import type { Principal } from "../../../platform/principal.js";

export interface CachedCredential {
  principal: Principal;
  /** validUntil: the credential's own expiry (absolute / idle / key expiry), epoch ms. */
  validUntil: number;
  /** owners: ids whose change must evict this entry (credential, user, surface, environment). */
  owners: string[];
  cachedAt: number;
}

/**
 * CredentialCache keeps resolved principals by token hash for a short time so authenticated reads
 * skip the database. It never serves a revoked credential: revocations evict the entry before and
 * after their commit, in this process and (through the change bus) in every other; while the bus
 * is unhealthy the cache is bypassed, and entries live at most `ttlMs` as a last line of defence.
 * A lookup that raced an eviction is not cached: callers read `generation` before their database
 * lookup and pass it to `set`, which drops the entry if anything was evicted meanwhile.
 */
export class CredentialCache {
  readonly #entries = new Map<string, CachedCredential>();
  readonly #byOwner = new Map<string, Set<string>>();
  #generation = 0;

  constructor(
    private readonly bus: ChangeBus,
    private readonly ttlMs = 30_000,
    private readonly maxEntries = 50_000,
  ) {
    bus.subscribe("credentials", (owner) => (owner === "*" ? this.clear() : this.evictOwner(owner)));
  }

  get(tokenHash: string, now: number): CachedCredential | null {
    if (!this.bus.healthy) return null;
    const entry = this.#entries.get(tokenHash);
    if (!entry) return null;
    if (entry.validUntil <= now || now - entry.cachedAt > this.ttlMs) {
      this.#delete(tokenHash);
      return null;
    }
    return entry;
  }

  /** generation changes on every eviction; read it before the lookup whose result goes to `set`. */
  get generation(): number {
    return this.#generation;
  }

  /** set caches `entry` unless the bus is down or an eviction happened since `generation` was read. */
  set(tokenHash: string, entry: CachedCredential, generation: number): void {
    if (!this.bus.healthy || generation !== this.#generation) return;
    if (this.#entries.size >= this.maxEntries) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#delete(oldest);
    }
    this.#entries.set(tokenHash, entry);
    for (const owner of entry.owners) {
      const set = this.#byOwner.get(owner) ?? new Set<string>();
      this.#byOwner.set(owner, set);
      set.add(tokenHash);
    }
  }

  evictOwner(owner: string): void {
    this.#generation++;
    for (const hash of this.#byOwner.get(owner) ?? []) this.#delete(hash);
    this.#byOwner.delete(owner);
  }

  clear(): void {
    this.#generation++;
    this.#entries.clear();
    this.#byOwner.clear();
  }

  get size(): number {
    return this.#entries.size;
  }

  #delete(tokenHash: string): void {
    const entry = this.#entries.get(tokenHash);
    this.#entries.delete(tokenHash);
    for (const owner of entry?.owners ?? []) this.#byOwner.get(owner)?.delete(tokenHash);
  }
}
