import { type Kysely, sql } from "kysely";
import { canonicalJson } from "../canonical-json.js";
import type { Clock } from "../clock.js";
import { sha256Hex } from "../crypto.js";
import { afterCommit, type Db, type Tx } from "../db/db.js";
import type { PlatformTables } from "../db/tables.js";
import { AppError, PlatformErrors } from "../errors.js";

/** KEY_PATTERN: 1–255 visible ASCII characters (Stripe's limit; IETF draft "validate the key"). */
const KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;

export interface StoredResponse {
  status: number;
  body: string;
}

/**
 * IdempotencyClaim is a request's hold on an idempotency key. Nothing is written when the request
 * starts: the write that carries out the request records the key, completed with its response,
 * inside its own transaction (`completeInTx`), so the side effect and the stored response commit
 * together, in one commit — a crash can never leave one without the other, and no second commit is
 * spent on the claim. If another request with the same key committed first (another process), that
 * write rolls back and the request answers the stored response (`IdempotentReplay`).
 */
export interface IdempotencyClaim {
  readonly scopeHash: string;
  readonly key: string;
  readonly successStatus: number;
  completed: StoredResponse | null;
  /** liveBody is the response body to send now; it differs from the stored one when secrets were withheld. */
  liveBody: string | null;
  completeInTx(tx: Tx, result: unknown): Promise<void>;
  /** release ends the request's hold in this process (the HTTP layer calls it when the request ends). */
  release(): void;
}

export type BeginResult = { kind: "claimed"; claim: IdempotencyClaim } | { kind: "replay"; response: StoredResponse };

export interface IdempotencyScope {
  environmentId: string | null;
  credentialId: string;
  method: string;
  path: string;
}

/**
 * IdempotentReplay is thrown from inside a write whose key another request completed first: the
 * write rolls back and the HTTP layer answers `response`, marked as a replay.
 */
export class IdempotentReplay extends Error {
  constructor(readonly response: StoredResponse) {
    super("idempotent replay");
  }
}

/**
 * IdempotencyLedger implements `Idempotency-Key` for every POST (Stripe / IETF semantics):
 * - the first response (status + body, 5xx included once execution began) is stored and replayed
 *   byte for byte for the key's lifetime (`ttlMs`, default 24 h);
 * - the same key with a different request → 422 `idempotency_key_reused`;
 * - the same key while the first request still runs in this process → 409
 *   `idempotency_request_in_progress`; in another process, the first commit wins and the other
 *   request's write rolls back and answers the replay;
 * - keys are scoped by environment + credential + method + path, so one caller's key can never
 *   read another's response.
 * The record is written completed, in the transaction of the write it answers for. Records of an
 * older release left `in_progress` by a dead process are taken over after `lockMs`.
 */
export class IdempotencyLedger {
  /** #inFlight: keys whose request is running in this process. */
  readonly #inFlight = new Set<string>();

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

  /**
   * begin looks the key up (one read, no write): it answers the stored response, or claims the key
   * for this request. Throws 409/422 as described above.
   */
  async begin(
    scope: IdempotencyScope,
    key: string,
    fingerprint: string,
    successStatus: number,
    secretFields: readonly string[] = [],
  ): Promise<BeginResult> {
    const scopeHash = IdempotencyLedger.scopeHash(scope);
    const held = `${scopeHash}\n${key}`;
    if (this.#inFlight.has(held)) throw inProgress();
    const row = await this.#read(this.db.kysely, scopeHash, key);
    const now = this.clock.now();
    let takeOver: number | null = null;
    if (row && row.expires_at > now) {
      if (row.fingerprint !== fingerprint) throw reused();
      if (row.state === "completed") {
        return { kind: "replay", response: { status: row.response_status ?? 500, body: row.response_body ?? "" } };
      }
      if (row.locked_until > now) throw inProgress();
      takeOver = row.locked_until; // an older release's claim whose process died
    } else if (row) {
      await this.db
        .typed<PlatformTables>()
        .deleteFrom("idempotency_record")
        .where("scope_hash", "=", scopeHash)
        .where("idempotency_key", "=", key)
        .where("expires_at", "<=", now)
        .execute();
    }
    if (this.#inFlight.has(held)) throw inProgress(); // another request of this process got here first
    this.#inFlight.add(held);
    return {
      kind: "claimed",
      claim: this.#claim(
        { scopeHash, key, fingerprint, environmentId: scope.environmentId },
        takeOver,
        successStatus,
        secretFields,
      ),
    };
  }

  /**
   * completeOutside stores the response of a claim that no write completed (a read-only POST, or
   * an error after execution began). It never throws for a lost race: the response is simply not
   * stored (the first one stays).
   */
  async completeOutside(claim: IdempotencyClaim, response: StoredResponse): Promise<boolean> {
    if (claim.completed) return true;
    const ok = await (claim as ClaimImpl).store(this.db.kysely, response);
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

  /**
   * forgetResponses deletes, in `tx`, the stored responses of an environment that contain
   * `needle` (a data subject erasure: a replayable response must not keep the person's address).
   */
  async forgetResponses(tx: Tx, environmentId: string, needle: string): Promise<number> {
    const contains =
      this.db.engine === "postgres"
        ? sql<number>`strpos(lower(response_body), ${needle.toLowerCase()})`
        : sql<number>`instr(lower(response_body), ${needle.toLowerCase()})`;
    const result = await (tx as unknown as Kysely<PlatformTables>)
      .deleteFrom("idempotency_record")
      .where("environment_id", "=", environmentId)
      .where(contains, ">", sql<number>`0`)
      .executeTakeFirst();
    return Number(result.numDeletedRows);
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
    id: ClaimIdentity,
    takeOver: number | null,
    successStatus: number,
    secretFields: readonly string[],
  ): IdempotencyClaim {
    const ledger = this;
    const held = `${id.scopeHash}\n${id.key}`;
    const claim: ClaimImpl = {
      scopeHash: id.scopeHash,
      key: id.key,
      successStatus,
      completed: null,
      liveBody: null,
      async completeInTx(tx, result) {
        if (claim.completed) return;
        const response = { status: successStatus, body: IdempotencyLedger.withholdSecrets(result, secretFields) };
        if (!(await claim.store(tx, response))) {
          // Another process completed this key first: this write rolls back, the request replays.
          const row = await ledger.#read(tx, id.scopeHash, id.key);
          if (row?.state === "completed" && row.fingerprint === id.fingerprint) {
            throw new IdempotentReplay({ status: row.response_status ?? 500, body: row.response_body ?? "" });
          }
          if (row && row.fingerprint !== id.fingerprint) throw reused();
          throw inProgress();
        }
        // Completed once the write commits: a write rolled back later (a hook, the commit itself)
        // leaves the claim open, so its error is stored or a retry runs again.
        const live = JSON.stringify(result ?? null);
        afterCommit(tx, () => {
          claim.completed = response;
          claim.liveBody = live;
        });
      },
      release() {
        ledger.#inFlight.delete(held);
      },
      async store(executor, response) {
        const now = ledger.clock.now();
        const db = executor as unknown as Kysely<PlatformTables>;
        if (takeOver !== null) {
          const result = await db
            .updateTable("idempotency_record")
            .set({ state: "completed", response_status: response.status, response_body: response.body })
            .where("scope_hash", "=", id.scopeHash)
            .where("idempotency_key", "=", id.key)
            .where("state", "=", "in_progress")
            .where("locked_until", "=", takeOver)
            .executeTakeFirst();
          return Number(result.numUpdatedRows) === 1;
        }
        const inserted = await db
          .insertInto("idempotency_record")
          .values({
            scope_hash: id.scopeHash,
            idempotency_key: id.key,
            environment_id: id.environmentId,
            fingerprint: id.fingerprint,
            state: "completed",
            locked_until: 0,
            response_status: response.status,
            response_body: response.body,
            created_at: now,
            expires_at: now + ledger.ttlMs,
          })
          .onConflict((oc) => oc.doNothing())
          .executeTakeFirst();
        return Number(inserted.numInsertedOrUpdatedRows ?? 0n) === 1;
      },
    };
    return claim;
  }

  async #read(executor: Tx | Db["kysely"], scopeHash: string, key: string) {
    return (executor as unknown as Kysely<PlatformTables>)
      .selectFrom("idempotency_record")
      .selectAll()
      .where("scope_hash", "=", scopeHash)
      .where("idempotency_key", "=", key)
      .executeTakeFirst();
  }
}

interface ClaimIdentity {
  scopeHash: string;
  key: string;
  fingerprint: string;
  environmentId: string | null;
}

interface ClaimImpl extends IdempotencyClaim {
  store(executor: Tx | Db["kysely"], response: StoredResponse): Promise<boolean>;
}

function reused(): AppError {
  return new AppError(
    PlatformErrors.idempotency_key_reused,
    "This Idempotency-Key was used with a different request body; use a new key for a new request.",
  );
}

function inProgress(): AppError {
  return new AppError(
    PlatformErrors.idempotency_request_in_progress,
    "A request with this Idempotency-Key is still being processed; retry later.",
    { headers: { "retry-after": "1" } },
  );
}
