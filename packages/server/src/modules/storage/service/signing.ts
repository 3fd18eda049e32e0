import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { Tx, TypedDb } from "../../../platform/db/db.js";
import type { ModuleContext } from "../../../platform/module.js";
import type { StorageTables } from "../tables.js";

/** SignedParams: what a signed download URL carries besides the file id. */
export interface SignedParams {
  /** v: the file version the URL is bound to (the start of the content's SHA-256). */
  v: string;
  exp: number;
  d: "a" | "i";
}

/**
 * UrlSigner signs download URLs with HMAC-SHA256 under a per-environment key (random, sealed
 * under the master key): the MAC covers the file id, its version, the expiry and the disposition,
 * so a URL cannot be moved to another file, outlive its expiry or switch to inline.
 */
export class UrlSigner {
  readonly #db: TypedDb<StorageTables>;
  readonly #keys = new Map<string, Buffer>();

  constructor(private readonly m: ModuleContext) {
    this.#db = m.db.tables<StorageTables>();
  }

  static version(sha256: string): string {
    return sha256.slice(0, 16);
  }

  /** keyFor returns the environment's key, creating it in `tx` when it has none yet. */
  async keyFor(environmentId: string, tx: Tx): Promise<Buffer> {
    const known = await this.#existing(environmentId, tx);
    if (known) return known;
    await this.#db
      .q(tx)
      .insertInto("storage_signing_key")
      .values({
        id: environmentId,
        secret: this.m.secrets.seal(randomBytes(32).toString("base64url"), environmentId),
        created_at: this.m.clock.now(),
      })
      .onConflict((oc) => oc.column("id").doNothing())
      .execute();
    return (await this.#existing(environmentId, tx)) as Buffer;
  }

  async #existing(environmentId: string, tx?: Tx): Promise<Buffer | null> {
    const cached = this.#keys.get(environmentId);
    if (cached) return cached;
    const row = await this.#db
      .q(tx)
      .selectFrom("storage_signing_key")
      .select("secret")
      .where("id", "=", environmentId)
      .executeTakeFirst();
    if (!row) return null;
    const key = Buffer.from(this.m.secrets.open(row.secret, environmentId), "base64url");
    // Cached only outside a transaction that may still roll back.
    if (!tx) this.#keys.set(environmentId, key);
    return key;
  }

  sign(key: Buffer, fileId: string, p: SignedParams): string {
    return createHmac("sha256", key).update(`v1\n${fileId}\n${p.v}\n${p.exp}\n${p.d}`).digest("base64url");
  }

  /** verify recomputes the MAC (null: the environment has no key, so nothing was ever signed). */
  async verify(environmentId: string, fileId: string, p: SignedParams, sig: string): Promise<boolean> {
    const key = await this.#existing(environmentId);
    if (!key) return false;
    const expected = Buffer.from(this.sign(key, fileId, p));
    const given = Buffer.from(sig);
    return expected.length === given.length && timingSafeEqual(expected, given);
  }
}
