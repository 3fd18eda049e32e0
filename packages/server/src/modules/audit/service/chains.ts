import type { Kysely } from "kysely";
import type { TenantAccess } from "../../../platform/access.js";
import { type Tx, toJson } from "../../../platform/db/db.js";
import { AppError, PlatformErrors } from "../../../platform/errors.js";
import { newId } from "../../../platform/ids.js";
import type { ModuleContext } from "../../../platform/module.js";
import type { ActionContext } from "../../../platform/principal.js";
import { chainOf, type EntryDraft } from "../internal/rows.js";
import type { AuditTables } from "../tables.js";
import { type AuditEntryRecord, entryHash, GENESIS_HASH } from "../verifier.js";

interface Head {
  size: number;
  hash: string;
}

/** Heads a transaction holds the lock of: appends after the first in one transaction skip the lock query. */
const heldHeads = new WeakMap<Tx, Map<string, Head>>();

/**
 * ChainLedger appends entries to hash chains (one per tenant, one per environment for entries
 * without tenant, one for the plane), inside the caller's transaction.
 *
 * Concurrency: each chain has a head row (`audit_chain`). The first append of a transaction to a
 * chain locks that row with an `UPDATE … RETURNING` (PostgreSQL row lock, held to commit; SQLite
 * has one writer anyway), so writers of one chain take turns and can neither fork nor gap it,
 * while writers of other chains (other tenants) never wait for them. A rolled-back transaction
 * leaves the head as it was: the seq it used is used again by the next writer, so no gap remains.
 * NOTE: a transaction appending to two chains locks them in the order it appends; two such
 * transactions in opposite orders can deadlock on PostgreSQL (one is aborted and can be retried).
 */
export class ChainLedger {
  constructor(private readonly m: ModuleContext) {}

  #db(tx: Tx): Kysely<AuditTables> {
    return tx as unknown as Kysely<AuditTables>;
  }

  /**
   * scope is the one permission check of audit routes: `access.require`, then, for a tenant, proof
   * that the tenant belongs to the caller's environment: its chain (opened by its `tenant.created`
   * fact) is in this environment. The audit module reads no other module's tables, so this check
   * holds even when no module answers the access seam's tenant lookup. Throws 403/404 like `require`.
   */
  async scope(ctx: ActionContext, permission: string, tenantId?: string | null): Promise<TenantAccess> {
    const access = await this.m.access.require(ctx, permission, { tenantId: tenantId ?? null });
    // A tenant-bound credential's tenant was proven by the credential itself.
    if (access.tenantId !== null && access.principal.tenantId !== access.tenantId) {
      const chain = await this.m.db
        .typed<AuditTables>()
        .selectFrom("audit_chain")
        .select("id")
        .where("id", "=", access.tenantId)
        .where("environment_id", "=", access.environmentId)
        .executeTakeFirst();
      if (!chain) throw new AppError(PlatformErrors.not_found, "No such tenant in this environment.");
    }
    return access;
  }

  /** lockHead locks a chain's head row for `tx` (creating the chain when new) and returns the head. */
  async lockHead(tx: Tx, chain: string, environmentId: string | null, tenantId: string | null): Promise<Head> {
    let held = heldHeads.get(tx);
    if (!held) {
      held = new Map();
      heldHeads.set(tx, held);
    }
    const known = held.get(chain);
    if (known) return known;
    const db = this.#db(tx);
    const now = this.m.clock.now();
    const lock = () =>
      db
        .updateTable("audit_chain")
        .set({ updated_at: now })
        .where("id", "=", chain)
        .returning(["size", "head_hash"])
        .executeTakeFirst();
    let row = await lock();
    if (!row) {
      await db
        .insertInto("audit_chain")
        .values({
          id: chain,
          environment_id: environmentId,
          tenant_id: tenantId,
          size: 0,
          head_hash: GENESIS_HASH,
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
    const head = { size: Number(row.size), hash: row.head_hash };
    held.set(chain, head);
    return head;
  }

  /** append places an entry at the head of its chain, in `tx`, and returns it with its seq and hash. */
  async append(tx: Tx, draft: EntryDraft): Promise<AuditEntryRecord> {
    const chain = chainOf(draft.environmentId, draft.tenantId);
    const head = await this.lockHead(tx, chain, draft.environmentId, draft.tenantId);
    const seq = head.size + 1;
    const body: Omit<AuditEntryRecord, "hash"> = {
      v: 1,
      id: newId("auditEntry", draft.occurredAt),
      chain,
      seq,
      ...draft,
      prevHash: head.hash,
    };
    const entry: AuditEntryRecord = { ...body, hash: entryHash(body) };
    const db = this.#db(tx);
    await db
      .insertInto("audit_entry")
      .values({
        id: entry.id,
        chain_id: chain,
        seq,
        environment_id: entry.environmentId,
        tenant_id: entry.tenantId,
        action: entry.action,
        occurred_at: entry.occurredAt,
        actor_type: entry.actor.type,
        actor_id: entry.actor.id,
        actor: toJson(entry.actor),
        targets: toJson(entry.targets),
        context: toJson(entry.context),
        metadata: toJson(entry.metadata),
        changes: entry.changes === null ? null : toJson(entry.changes),
        source: entry.source,
        fact_id: entry.factId,
        prev_hash: entry.prevHash,
        hash: entry.hash,
      })
      .execute();
    if (entry.targets.length > 0) {
      await db
        .insertInto("audit_entry_target")
        .values(
          entry.targets.map((t) => ({
            entry_id: entry.id,
            environment_id: entry.environmentId,
            target_type: t.type,
            target_id: t.id,
          })),
        )
        .execute();
    }
    await db.updateTable("audit_chain").set({ size: seq, head_hash: entry.hash }).where("id", "=", chain).execute();
    head.size = seq;
    head.hash = entry.hash;
    return entry;
  }
}
