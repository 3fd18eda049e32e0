import { canonicalJson } from "../canonical-json.js";
import type { Clock } from "../clock.js";
import { sha256Hex } from "../crypto.js";
import type { Db, Tx } from "../db/db.js";
import type { PlatformTables } from "../db/tables.js";
import { AppError, PlatformErrors } from "../errors.js";

/** KEY_PATTERN: 1–255 visible ASCII characters (Stripe's limit; IETF draft "validate the key"). */
const KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;

export interface StoredResponse {
  status: number;
  body: string;
}

/**
 * IdempotencyClaim is a request's hold on an idempotency key. The write that carries out the
 * request completes it inside its own transaction (`completeInTx`), so the side effect and the
 * stored response commit together: a crash can never leave one without the other.
 */
export interface IdempotencyClaim {
  readonly scopeHash: string;
  readonly key: string;
  readonly token: number;
  readonly successStatus: number;
  completed: StoredResponse | null;
  /** liveBody is the response body to send now; it differs from the stored one when secrets were withheld. */
  liveBody: string | null;
  completeInTx(tx: Tx, result: unknown): Promise<void>;
}

export type BeginResult = { kind: "claimed"; claim: IdempotencyClaim } | { kind: "replay"; response: StoredResponse };

export interface IdempotencyScope {
  environmentId: string | null;
  credentialId: string;
  method: string;
  path: string;
}

/**
 * IdempotencyLedger implements `Idempotency-Key` for every POST (Stripe / IETF semantics):
 * - the first response (status + body, 5xx included once execution began) is stored and replayed
 *   byte for byte for the key's lifetime (`ttlMs`, default 24 h);
 * - the same key with a different request → 422 `idempotency_key_reused`;
 * - the same key while the first request still runs → 409 `idempotency_request_in_progress`;
 * - keys are scoped by environment + credential + method + path, so one caller's key can never
 *   read another's response.
 * A claim whose process died is taken over after `lockMs`; the completion of a claim that was
 * taken over fails, rolling back its transaction, so the work is applied at most once.
 */
export class IdempotencyLedger {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    readonly ttlMs: number,
    readonly lockMs = 60_000,
  ) {}

  /** parseKey validates the header value. Throws 400 `idempotency_key_invalid`. */
  static parseKey(raw: string | string[] | undefined): string | null {
    if (raw === undefined) return null;
    if (Array.isArray(raw) || !KEY_PATTERN.test(raw)) {
      throw new AppError(
        PlatformErrors.idempotency_key_invalid,
        "Idempotency-Key must be one header of 1 to 255 visible ASCII characters (a UUID v4 is a good choice).",
      );
    }
    return raw;
  }

  static scopeHash(scope: IdempotencyScope): string {
    return sha256Hex([scope.environmentId ?? "-", scope.credentialId, scope.method, scope.path].join("\n"));
  }

  static fingerprint(body: unknown, query: unknown): string {
    return sha256Hex(canonicalJson({ body: body ?? null, query: query ?? null }));
  }

  /** begin claims the key, or answers the stored response. Throws 409/422 as described above. */
  async begin(
    scope: IdempotencyScope,
    key: string,
    fingerprint: string,
    successStatus: number,
    secretFields: readonly string[] = [],
  ): Promise<BeginResult> {
    const db = this.db.typed<PlatformTables>();
    const scopeHash = IdempotencyLedger.scopeHash(scope);
    for (let attempt = 0; attempt < 3; attempt++) {
      const now = this.clock.now();
      // A new key is the common case: try to claim it first, look at the existing row only on conflict.
      const token = now + this.lockMs;
      const inserted = await db
        .insertInto("idempotency_record")
        .values({
          scope_hash: scopeHash,
          idempotency_key: key,
          environment_id: scope.environmentId,
          fingerprint,
          state: "in_progress",
          locked_until: token,
          response_status: null,
          response_body: null,
          created_at: now,
          expires_at: now + this.ttlMs,
        })
        .onConflict((oc) => oc.doNothing())
        .executeTakeFirst();
      if (Number(inserted.numInsertedOrUpdatedRows ?? 0n) === 1) {
        return { kind: "claimed", claim: this.#claim(scopeHash, key, token, successStatus, secretFields) };
      }

      const row = await db
        .selectFrom("idempotency_record")
        .selectAll()
        .where("scope_hash", "=", scopeHash)
        .where("idempotency_key", "=", key)
        .executeTakeFirst();
      if (!row) continue; // pruned meanwhile
      if (row.expires_at <= now) {
        await db
          .deleteFrom("idempotency_record")
          .where("scope_hash", "=", scopeHash)
          .where("idempotency_key", "=", key)
          .where("expires_at", "<=", now)
          .execute();
        continue;
      }
      if (row.fingerprint !== fingerprint) {
        throw new AppError(
          PlatformErrors.idempotency_key_reused,
          "This Idempotency-Key was used with a different request body; use a new key for a new request.",
        );
      }
      if (row.state === "completed") {
        return { kind: "replay", response: { status: row.response_status ?? 500, body: row.response_body ?? "" } };
      }
      if (row.locked_until > now) throw inProgress();
      // The first request's process died: take the claim over, once.
      const taken = await db
        .updateTable("idempotency_record")
        .set({ locked_until: token })
        .where("scope_hash", "=", scopeHash)
        .where("idempotency_key", "=", key)
        .where("state", "=", "in_progress")
        .where("locked_until", "=", row.locked_until)
        .executeTakeFirst();
      if (Number(taken.numUpdatedRows) === 1) {
        return { kind: "claimed", claim: this.#claim(scopeHash, key, token, successStatus, secretFields) };
      }
    }
    throw inProgress();
  }

  /**
   * completeOutside stores the response of a claim that no write completed (a read-only POST, or
   * an error after execution began). It never throws for a lost claim: the response is simply
   * not stored, and a retry will run again.
   */
  async completeOutside(claim: IdempotencyClaim, response: StoredResponse): Promise<boolean> {
    if (claim.completed) return true;
    const ok = await this.#complete(this.db.kysely, claim, response);
    if (ok) claim.completed = response;
    return ok;
  }

  /**
   * withholdSecrets returns the JSON to store for a response: the named top-level fields (a token
   * shown once) are replaced by null, so no credential ever rests in the ledger. An idempotent
   * replay of a credential-issuing request therefore returns the object without its token.
   */
  static withholdSecrets(result: unknown, secretFields: readonly string[]): string {
    if (secretFields.length === 0 || result === null || typeof result !== "object" || Array.isArray(result)) {
      return JSON.stringify(result ?? null);
    }
    const copy: Record<string, unknown> = { ...(result as Record<string, unknown>) };
    for (const field of secretFields) if (field in copy) copy[field] = null;
    return JSON.stringify(copy);
  }

  /** prune deletes expired records and returns how many. */
  async prune(): Promise<number> {
    const result = await this.db
      .typed<PlatformTables>()
      .deleteFrom("idempotency_record")
      .where("expires_at", "<=", this.clock.now())
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  #claim(
    scopeHash: string,
    key: string,
    token: number,
    successStatus: number,
    secretFields: readonly string[],
  ): IdempotencyClaim {
    const complete = (tx: Tx, response: StoredResponse) => this.#complete(tx, claim, response);
    const claim: IdempotencyClaim = {
      scopeHash,
      key,
      token,
      successStatus,
      completed: null,
      liveBody: null,
      async completeInTx(tx, result) {
        if (claim.completed) return;
        const response = { status: successStatus, body: IdempotencyLedger.withholdSecrets(result, secretFields) };
        if (!(await complete(tx, response))) throw inProgress();
        claim.completed = response;
        claim.liveBody = JSON.stringify(result ?? null);
      },
    };
    return claim;
  }

  async #complete(executor: Tx | Db["kysely"], claim: IdempotencyClaim, response: StoredResponse): Promise<boolean> {
    const result = await (executor as Db["kysely"])
      .updateTable("idempotency_record")
      .set({ state: "completed", response_status: response.status, response_body: response.body })
      .where("scope_hash", "=", claim.scopeHash)
      .where("idempotency_key", "=", claim.key)
      .where("state", "=", "in_progress")
      .where("locked_until", "=", claim.token)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }
}

function inProgress(): AppError {
  return new AppError(
    PlatformErrors.idempotency_request_in_progress,
    "A request with this Idempotency-Key is still being processed; retry later.",
    { headers: { "retry-after": "1" } },
  );
}
