import { createPrivateKey, createPublicKey, generateKeyPairSync, type JsonWebKey, type KeyObject } from "node:crypto";
import type { Selectable } from "kysely";
import { fromJson, type Tx, toJson } from "../../../platform/db/db.js";
import { AppError } from "../../../platform/errors.js";
import { iso, isoOrNull } from "../../../platform/http/schemas.js";
import type { ActionContext } from "../../../platform/principal.js";
import { TenancyErrors } from "../../tenancy/index.js";
import { identityIds, newId } from "../ids.js";
import type { Core } from "../internal/core.js";
import { ACCESS_TOKEN_MAX_TTL_SECONDS } from "../internal/settings/tokens.js";
import type { SigningKey } from "../schemas.js";
import type { SigningKeyTable } from "../tables.js";

export type SigningAlg = "EdDSA" | "ES256";

/** RETIRE_AFTER_MS: how long a replaced key stays in the JWKS (the longest access token, plus a minute of clock skew). */
export const RETIRE_AFTER_MS = ACCESS_TOKEN_MAX_TTL_SECONDS * 1000 + 60_000;

/** JWKS_MAX_AGE_SECONDS: how long clients may cache a JWKS (a new key is announced before… it signs nothing older). */
export const JWKS_MAX_AGE_SECONDS = 300;

/** ActiveKey is the key that signs an environment's new access tokens. */
export interface ActiveKey {
  kid: string;
  alg: SigningAlg;
  privateKey: KeyObject;
}

/** VerificationKey is one key of an environment's JWKS, as the plane verifies with it. */
export interface VerificationKey {
  kid: string;
  environmentId: string;
  alg: SigningAlg;
  publicKey: KeyObject;
}

type Row = Selectable<SigningKeyTable>;

/**
 * SigningKeysService: each environment's keys signing its JWT access tokens (Ed25519 `EdDSA` by
 * default, or P-256 `ES256`). One key is `active`; rotation makes a new one active and the old one
 * `retiring`: it stays in the JWKS until every token it signed has expired (`RETIRE_AFTER_MS`),
 * then it is `retired` and gone from the JWKS. The first key of an environment is made on the
 * first access token. Private keys are sealed under the master key; public keys are cached by kid
 * (a kid's key never changes, so the cache never needs an eviction).
 */
export class SigningKeysService {
  readonly #private = new Map<string, KeyObject>();
  readonly #public = new Map<string, VerificationKey>();

  constructor(private readonly c: Core) {}

  /**
   * activeKey returns the environment's active key inside `tx`, making the first one when it has
   * none (two concurrent first issuances meet on the unique index: both use the one that won).
   */
  async activeKey(tx: Tx, environmentId: string): Promise<ActiveKey> {
    let row = await this.#active(tx, environmentId);
    if (!row) {
      await this.c.tables
        .q(tx)
        .insertInto("signing_key")
        .values(this.#newRow(environmentId, "EdDSA"))
        .onConflict((oc) => oc.doNothing())
        .execute();
      row = await this.#active(tx, environmentId);
      if (!row) throw new Error(`No active signing key for ${environmentId}`);
    }
    let privateKey = this.#private.get(row.id);
    if (!privateKey) {
      privateKey = createPrivateKey(this.c.secrets.open(row.private_key, row.id));
      if (this.#private.size >= 10_000) this.#private.clear();
      this.#private.set(row.id, privateKey);
    }
    return { kid: row.id, alg: row.alg, privateKey };
  }

  /**
   * verificationKey returns the key named `kid` if it is a well-formed key id of this plane and not
   * retired, or null. It never reads a URL or a key from the token itself.
   */
  async verificationKey(kid: string): Promise<VerificationKey | null> {
    if (!identityIds.isId("signingKey", kid)) return null;
    const cached = this.#public.get(kid);
    if (cached) return cached;
    const row = await this.c.tables.q().selectFrom("signing_key").selectAll().where("id", "=", kid).executeTakeFirst();
    if (!row || !this.#published(row, this.c.clock.now())) return null;
    const key: VerificationKey = {
      kid: row.id,
      environmentId: row.environment_id,
      alg: row.alg,
      publicKey: createPublicKey({ key: fromJson<JsonWebKey>(row.public_jwk), format: "jwk" }),
    };
    if (this.#public.size >= 10_000) this.#public.clear();
    this.#public.set(kid, key);
    return key;
  }

  /** jwks is an environment's JSON Web Key Set: its active key and the retiring ones (404 for an unknown environment). */
  async jwks(environmentId: string): Promise<{ keys: JsonWebKey[] }> {
    if (!(await this.c.tenancy.projects.environmentExists(environmentId))) {
      throw new AppError(TenancyErrors.environment_not_found, `No environment ${environmentId}.`);
    }
    const now = this.c.clock.now();
    const rows = await this.c.tables
      .q()
      .selectFrom("signing_key")
      .selectAll()
      .where("environment_id", "=", environmentId)
      .where("status", "!=", "retired")
      .execute();
    return { keys: newestFirst(rows.filter((r) => this.#published(r, now))).map(publicJwk) };
  }

  /**
   * rotateSigningKey makes a new active key (of `alg`, or the current key's) and leaves the old one
   * retiring for `RETIRE_AFTER_MS`. Callable by operators and by the environment's secret keys
   * (another environment answers 404). Tokens signed before stay verifiable until they expire.
   */
  async rotateSigningKey(ctx: ActionContext, environmentId: string, alg?: SigningAlg): Promise<{ data: SigningKey[] }> {
    const notFound = () => new AppError(TenancyErrors.environment_not_found, `No environment ${environmentId}.`);
    // An operator acts plane-wide, unless it named the environment it acts in (then it is confined to it).
    if (ctx.principal?.actorType === "operator" && !ctx.principal.environmentId) {
      this.c.access.operator(ctx, "environments:write");
    } else {
      const access = this.c.access.environment(ctx, "environments:write");
      if (access.environmentId !== environmentId) throw notFound();
    }
    if (!(await this.c.tenancy.projects.environmentExists(environmentId))) throw notFound();
    return this.c.db.write(ctx, async (tx) => {
      const now = this.c.clock.now();
      const current = await this.c.tables
        .q(tx)
        .selectFrom("signing_key")
        .selectAll()
        .where("environment_id", "=", environmentId)
        .where("status", "=", "active")
        .$call((qb) => this.c.db.forUpdate(qb))
        .executeTakeFirst();
      await this.c.tables
        .q(tx)
        .updateTable("signing_key")
        .set({ status: "retired" })
        .where("environment_id", "=", environmentId)
        .where("status", "=", "retiring")
        .where("retires_at", "<=", now)
        .execute();
      if (current) {
        await this.c.tables
          .q(tx)
          .updateTable("signing_key")
          .set({ status: "retiring", rotated_at: now, retires_at: now + RETIRE_AFTER_MS })
          .where("id", "=", current.id)
          .where("status", "=", "active")
          .execute();
      }
      const next = this.#newRow(environmentId, alg ?? current?.alg ?? "EdDSA");
      await this.c.tables.q(tx).insertInto("signing_key").values(next).execute();
      await this.c.facts.record(tx, ctx, {
        type: "signing_key.rotated",
        environmentId,
        targets: [{ type: "signing_key", id: next.id }, ...(current ? [{ type: "signing_key", id: current.id }] : [])],
        data: { kid: next.id, alg: next.alg, previousKid: current?.id ?? null },
      });
      const rows = await this.c.tables
        .q(tx)
        .selectFrom("signing_key")
        .selectAll()
        .where("environment_id", "=", environmentId)
        .where("status", "!=", "retired")
        .execute();
      return { data: newestFirst(rows).map(toSigningKey) };
    });
  }

  /** retireSigningKeys marks retiring keys whose tokens have all expired as retired (a scheduled job). */
  async retireSigningKeys(): Promise<number> {
    const now = this.c.clock.now();
    const result = await this.c.tables
      .q()
      .updateTable("signing_key")
      .set({ status: "retired" })
      .where("status", "=", "retiring")
      .where("retires_at", "<=", now)
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  #published(row: Row, now: number): boolean {
    return row.status === "active" || (row.status === "retiring" && row.retires_at !== null && row.retires_at > now);
  }

  #active(tx: Tx, environmentId: string) {
    return this.c.tables
      .q(tx)
      .selectFrom("signing_key")
      .selectAll()
      .where("environment_id", "=", environmentId)
      .where("status", "=", "active")
      .executeTakeFirst();
  }

  #newRow(environmentId: string, alg: SigningAlg) {
    const now = this.c.clock.now();
    const id = newId("signingKey", now);
    const { privateKey, publicKey } =
      alg === "EdDSA" ? generateKeyPairSync("ed25519") : generateKeyPairSync("ec", { namedCurve: "P-256" });
    const pem = privateKey.export({ format: "pem", type: "pkcs8" }).toString();
    return {
      id,
      environment_id: environmentId,
      alg,
      public_jwk: toJson(publicKey.export({ format: "jwk" })),
      private_key: this.c.secrets.seal(pem, id),
      status: "active" as const,
      created_at: now,
      rotated_at: null,
      retires_at: null,
    };
  }
}

/** newestFirst: the active key, then the others from the most recently replaced. */
function newestFirst(rows: Row[]): Row[] {
  const rank = (r: Row) => (r.status === "active" ? Number.MAX_SAFE_INTEGER : (r.rotated_at ?? 0));
  return [...rows].sort((a, b) => rank(b) - rank(a) || b.id.localeCompare(a.id));
}

function publicJwk(row: Row): JsonWebKey {
  const jwk = fromJson<JsonWebKey>(row.public_jwk);
  return { ...jwk, kid: row.id, alg: row.alg, use: "sig" };
}

function toSigningKey(row: Row): SigningKey {
  return {
    kid: row.id,
    alg: row.alg,
    status: row.status,
    createdAt: iso(row.created_at),
    rotatedAt: isoOrNull(row.rotated_at),
    retiresAt: isoOrNull(row.retires_at),
  };
}
