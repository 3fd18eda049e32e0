import type { TenantAccess } from "../../../platform/access.js";
import { BatchInsert } from "../../../platform/db/batch-insert.js";
import { beforeCommit, type Tx, type TypedDb } from "../../../platform/db/db.js";
import { AppError, PlatformErrors } from "../../../platform/errors.js";
import type { ModuleContext } from "../../../platform/module.js";
import type { ActionContext } from "../../../platform/principal.js";
import { type AuditEntryRecord, type EncodedEntry, encodeEntry, GENESIS_HASH, hashEntryBody } from "../format.js";
import { newId } from "../ids.js";
import { type PersonalFields, subjectOf } from "../internal/personal.js";
import { chainOf, type EntryDraft, wellFormed } from "../internal/rows.js";
import type { AuditTables } from "../tables.js";

interface Head {
  size: number;
  hash: string;
}

/** Heads a transaction holds the lock of: appends after the first in one transaction skip the lock queries. */
const heldHeads = new WeakMap<Tx, Map<string, Head>>();
/** Entries appended in a transaction, written just before it commits. */
const pendingEntries = new WeakMap<Tx, Pending>();
/** ROWS_PER_INSERT: entries per multi-row INSERT (18 parameters each, far below either engine's limit). */
const ROWS_PER_INSERT = 100;

/** ENTRY_COLUMNS: the columns of `audit_entry`, in the order `pushRow` gives their values. */
export const ENTRY_COLUMNS = [
  "id",
  "chain_id",
  "seq",
  "environment_id",
  "tenant_id",
  "action",
  "occurred_at",
  "actor_type",
  "actor_id",
  "actor",
  "targets",
  "context",
  "metadata",
  "changes",
  "source",
  "fact_id",
  "prev_hash",
  "hash",
] as const;

/** TARGET_COLUMNS: the columns of `audit_entry_target`, in the order `append` gives their values. */
const TARGET_COLUMNS = ["entry_id", "environment_id", "target_type", "target_id"] as const;

/** pushRow appends an entry's values in `ENTRY_COLUMNS` order (JSON columns as their canonical text). */
function pushRow(values: unknown[], e: AuditEntryRecord, encoded: EncodedEntry): void {
  values.push(
    e.id,
    e.chain,
    e.seq,
    e.environmentId,
    e.tenantId,
    e.action,
    e.occurredAt,
    e.actor.type,
    e.actor.id,
    encoded.actor,
    encoded.targets,
    encoded.context,
    encoded.metadata,
    encoded.changes,
    e.source,
    e.factId,
    e.prevHash,
    e.hash,
  );
}

/** entryRow is an entry as the values of `ENTRY_COLUMNS`: exactly what the ledger writes. */
export function entryRow(e: AuditEntryRecord): unknown[] {
  const values: unknown[] = [];
  pushRow(values, e, encodeEntry(e));
  return values;
}

/** Pending is what a transaction appended, as the values of its rows, written just before it commits. */
interface Pending {
  entries: unknown[];
  targets: unknown[];
}

/**
 * ChainLedger appends entries to hash chains (one per tenant, one per environment for entries
 * without tenant, one for the plane), inside the caller's transaction.
 *
 * Concurrency: each chain has a row in `audit_chain`. The first append of a transaction to a chain
 * locks that row with an `UPDATE … RETURNING` (a PostgreSQL row lock held to commit; SQLite has
 * one writer anyway), then reads the head entry (highest seq). Writers of one chain therefore take
 * turns and can neither fork nor gap it (and `(chain_id, seq)` is unique besides), while writers of
 * other chains (other tenants) never wait for them. A rolled-back transaction leaves nothing: the
 * next writer reuses its seq.
 * NOTE: a transaction appending to two chains locks them in the order it appends; two such
 * transactions in opposite orders can deadlock on PostgreSQL (one is aborted and can be retried).
 * NOTE: the append path is the plane's hottest write (every mutation): entries appended in a
 * transaction are written just before it commits (`beforeCommit`), in multi-row INSERTs of
 * precompiled SQL rather than one query-builder call per row. Within the transaction, appended
 * entries are therefore not yet readable with SQL (the chain head is kept in memory).
 */
export class ChainLedger {
  readonly #db: TypedDb<AuditTables>;
  readonly #entries: BatchInsert;
  readonly #targets: BatchInsert;

  constructor(
    private readonly m: ModuleContext,
    private readonly personal: PersonalFields,
  ) {
    this.#db = m.db.tables<AuditTables>();
    this.#entries = new BatchInsert(m.db.engine, "audit_entry", ENTRY_COLUMNS);
    this.#targets = new BatchInsert(m.db.engine, "audit_entry_target", TARGET_COLUMNS);
  }

  /**
   * scope is the one permission check of audit routes: `access.require`, then, for a tenant named
   * by a credential not bound to it, proof that the tenant belongs to the caller's environment:
   * its chain (opened by its `tenant.created` fact) is in this environment. The audit module reads
   * no other module's tables, so this holds even without a tenant lookup behind the access seam.
   * Throws 403/404 like `require`.
   */
  async scope(ctx: ActionContext, permission: string, tenantId?: string | null): Promise<TenantAccess> {
    const access = await this.m.access.require(ctx, permission, { tenantId: tenantId ?? null });
    // A tenant-bound credential's tenant was proven by the credential itself.
    if (access.tenantId !== null && access.principal.tenantId !== access.tenantId) {
      const chain = await this.#db
        .q()
        .selectFrom("audit_chain")
        .select("id")
        .where("id", "=", access.tenantId)
        .where("environment_id", "=", access.environmentId)
        .executeTakeFirst();
      if (!chain) throw new AppError(PlatformErrors.not_found, "No such tenant in this environment.");
    }
    return access;
  }

  /**
   * readHead returns a chain's head as committed now, without locking it (a report states it;
   * the next write moves it): the last entry, else the retention anchor; null for a chain never written.
   */
  async readHead(chain: string): Promise<Head | null> {
    const db = this.#db.q();
    const row = await db
      .selectFrom("audit_chain")
      .select(["anchor_size", "anchor_hash"])
      .where("id", "=", chain)
      .executeTakeFirst();
    if (!row) return null;
    const last = await db
      .selectFrom("audit_entry")
      .select(["seq", "hash"])
      .where("chain_id", "=", chain)
      .orderBy("seq", "desc")
      .limit(1)
      .executeTakeFirst();
    return last
      ? { size: Number(last.seq), hash: last.hash }
      : { size: Number(row.anchor_size), hash: row.anchor_hash };
  }

  /** lockHead locks a chain for `tx` (creating it when new) and returns its head. */
  async lockHead(tx: Tx, chain: string, environmentId: string | null, tenantId: string | null): Promise<Head> {
    let held = heldHeads.get(tx);
    if (!held) {
      held = new Map();
      heldHeads.set(tx, held);
    }
    const known = held.get(chain);
    if (known) return known;
    const db = this.#db.q(tx);
    const now = this.m.clock.now();
    const lock = () =>
      db
        .updateTable("audit_chain")
        .set({ updated_at: now })
        .where("id", "=", chain)
        .returning(["anchor_size", "anchor_hash"])
        .executeTakeFirst();
    let row = await lock();
    if (!row) {
      await db
        .insertInto("audit_chain")
        .values({
          id: chain,
          environment_id: environmentId,
          tenant_id: tenantId,
          anchor_size: 0,
          anchor_hash: GENESIS_HASH,
          created_at: now,
          updated_at: now,
        })
        .onConflict((oc) => oc.column("id").doNothing())
        .execute();
      row = await lock();
      if (!row) throw new Error(`audit chain ${chain} could not be created`);
    }
    const last = await db
      .selectFrom("audit_entry")
      .select(["seq", "hash"])
      .where("chain_id", "=", chain)
      .orderBy("seq", "desc")
      .limit(1)
      .executeTakeFirst();
    const head = last
      ? { size: Number(last.seq), hash: last.hash }
      : { size: Number(row.anchor_size), hash: row.anchor_hash };
    held.set(chain, head);
    return head;
  }

  /**
   * append places an entry at the head of its chain, in `tx`, and returns it with its seq and
   * hash. The entry is encoded once (its canonical body is hashed; the same encodings of its
   * JSON members are the stored column values) and its row is written just before commit.
   */
  async append(tx: Tx, given: EntryDraft): Promise<AuditEntryRecord> {
    // An entry about an end user holds their personal fields sealed under their key (erasable).
    const draft = subjectOf(given) ? await this.personal.seal(tx, given) : given;
    const chain = chainOf(draft.environmentId, draft.tenantId);
    // After the first append of a transaction to a chain, its head is known: no await.
    const head = heldHeads.get(tx)?.get(chain) ?? (await this.lockHead(tx, chain, draft.environmentId, draft.tenantId));
    let e = this.#record(draft, chain, head);
    let encoded = encodeEntry(e);
    // A lone UTF-16 surrogate is the only thing JSON escapes as \udXXX: when one may be present,
    // replace it (see wellFormed) and encode again. Well-formed input is never copied.
    if (encoded.body.includes("\\ud")) {
      const clean = wellFormed(draft);
      if (clean !== draft) {
        e = this.#record(clean, chain, head);
        encoded = encodeEntry(e);
      }
    }
    e.hash = hashEntryBody(e.prevHash, encoded.body);
    let pending = pendingEntries.get(tx);
    if (!pending) {
      const batch: Pending = { entries: [], targets: [] };
      pending = batch;
      pendingEntries.set(tx, batch);
      beforeCommit(tx, () => this.#flush(tx, batch));
    }
    pushRow(pending.entries, e, encoded);
    for (const t of e.targets) pending.targets.push(e.id, e.environmentId, t.type, t.id);
    head.size = e.seq;
    head.hash = e.hash;
    return e;
  }

  #record(d: EntryDraft, chain: string, head: Head): AuditEntryRecord {
    return {
      v: 1,
      id: newId("auditEntry", d.occurredAt),
      chain,
      seq: head.size + 1,
      environmentId: d.environmentId,
      tenantId: d.tenantId,
      action: d.action,
      occurredAt: d.occurredAt,
      actor: d.actor,
      targets: d.targets,
      context: d.context,
      metadata: d.metadata,
      changes: d.changes,
      source: d.source,
      factId: d.factId,
      prevHash: head.hash,
      hash: "",
    };
  }

  /** flush writes a transaction's appended entries and their targets, in multi-row INSERTs. */
  async #flush(tx: Tx, pending: Pending): Promise<void> {
    // An append after this flush (from another before-commit step) starts a new batch.
    pendingEntries.delete(tx);
    const entryValues = ENTRY_COLUMNS.length * ROWS_PER_INSERT;
    for (let from = 0; from < pending.entries.length; from += entryValues) {
      await this.#entries.insert(tx, pending.entries.slice(from, from + entryValues));
    }
    const targetValues = TARGET_COLUMNS.length * ROWS_PER_INSERT;
    for (let from = 0; from < pending.targets.length; from += targetValues) {
      await this.#targets.insert(tx, pending.targets.slice(from, from + targetValues));
    }
  }
}
