import type { OwnedCache, OwnedEntry } from "./cache.js";
import type { Clock } from "./clock.js";
import { sha256Hex } from "./crypto.js";
import type { LastUsedTracker } from "./last-used.js";
import type { Principal } from "./principal.js";

/** Accepted is a credential a lookup accepts: its principal and what its cache entry depends on. */
export interface Accepted {
  principal: Principal;
  /** validUntil: the credential's expiry (epoch ms), or null when it has none. */
  validUntil: number | null;
  /** owners: the ids whose change must evict the cached principal (see OwnedCache). */
  owners: string[];
}

/**
 * CredentialLookup is what one kind of credential adds to the shared resolution steps of
 * `CredentialLookups.resolve`: where its row is, what makes it acceptable, and its idle timeout.
 */
export interface CredentialLookup<Row> {
  /** table: the credential's table; its uses are recorded under this name (see LastUsedTracker). */
  table: string;
  /** find reads the credential whose token has this SHA-256 (hex), or undefined. */
  find(hash: string): Promise<Row | undefined>;
  /** accept checks a found row at `now` (revoked, expired, idle, owner disabled, surface archived…); null refuses it. */
  accept(row: Row, now: number): Promise<Accepted | null>;
  /** idleMs: the idle timeout that applies to a cached principal, or null when none does (default: none). */
  idleMs?(cached: OwnedEntry<Principal>): number | null;
}

/**
 * CredentialLookups resolves a bearer token (prefix and checksum already verified, see
 * CredentialResolvers) into a principal the same way for every kind of credential: a cached
 * principal when one is valid, else one indexed lookup by the token's SHA-256 (so an unknown token
 * costs the same query as a known one) and the kind's own checks; an accepted principal is cached
 * and every use, cached or not, is recorded in the LastUsedTracker. Returns null for a credential
 * that is unknown or refused; errors of `find` and `accept` propagate.
 */
export class CredentialLookups {
  constructor(
    private readonly cache: OwnedCache<Principal>,
    private readonly lastUsed: LastUsedTracker,
    private readonly clock: Clock,
  ) {}

  async resolve<Row>(token: string, lookup: CredentialLookup<Row>): Promise<Principal | null> {
    const hash = sha256Hex(token);
    const now = this.clock.now();
    const cached = this.#fromCache(hash, now, lookup);
    if (cached) return cached;
    // Read before the lookup: an eviction racing it keeps its result out of the cache.
    const generation = this.cache.generation;
    const row = await lookup.find(hash);
    if (!row) return null;
    const accepted = await lookup.accept(row, now);
    if (!accepted) return null;
    const { principal } = accepted;
    const entry = {
      value: principal,
      validUntil: accepted.validUntil ?? Number.MAX_SAFE_INTEGER,
      owners: accepted.owners,
      cachedAt: now,
    };
    this.cache.set(hash, entry, generation);
    this.lastUsed.touch(lookup.table, principal.credentialId, now);
    return principal;
  }

  /**
   * #fromCache serves a cached principal, recording the use. An idle-expired entry is evicted and
   * the caller falls through to the database, whose row `accept` refuses.
   */
  #fromCache<Row>(hash: string, now: number, lookup: CredentialLookup<Row>): Principal | null {
    const cached = this.cache.get(hash, now);
    if (!cached) return null;
    const id = cached.value.credentialId;
    const idleMs = lookup.idleMs?.(cached) ?? null;
    if (idleMs !== null && (this.lastUsed.latest(id) ?? cached.cachedAt) + idleMs <= now) {
      this.cache.evictOwner(id);
      return null;
    }
    this.lastUsed.touch(lookup.table, id, now);
    return cached.value;
  }
}
