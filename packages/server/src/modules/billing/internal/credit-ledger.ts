import { type Selectable, sql } from "kysely";
import type { Tx, TypedDb } from "../../../platform/db/db.js";
import type { AppError } from "../../../platform/errors.js";
import type { ModuleContext } from "../../../platform/module.js";
import type { ActionContext } from "../../../platform/principal.js";
import type { UsageService } from "../../usage/index.js";
import { newId } from "../ids.js";
import type {
  BillingCreditEntryTable,
  BillingCreditHoldTable,
  BillingCreditWalletTable,
  BillingTables,
  CreditEntryKind,
} from "../tables.js";

export type WalletRow = Selectable<BillingCreditWalletTable>;
export type HoldRow = Selectable<BillingCreditHoldTable>;

/**
 * CreditLedger: the one way credit balances change, shared by `CreditsService` and
 * `CreditHoldsService`. Every change works on a wallet row locked by `lockWallet` (PostgreSQL
 * `FOR UPDATE`; SQLite's single writer), settled first (grants past their expiry expire, holds past
 * their TTL give their credits back), and writes one append-only `billing_credit_entry` per grant
 * it touches, so a wallet's balance and each grant's `remaining` are the sums of their entries.
 * `settle` stores the new balance and records what crossing it means.
 */
export class CreditLedger {
  readonly #db: TypedDb<BillingTables>;

  /**
   * timeFor answers the time of a tenant's credits: the plane's, or its billing test clock's (set
   * by the billing service), so grants and holds expire at the tenant's time.
   */
  timeFor: (environmentId: string, tenantId: string, tx?: Tx) => Promise<number>;

  constructor(
    private readonly m: ModuleContext,
    private readonly usage: UsageService,
  ) {
    this.#db = m.db.tables<BillingTables>();
    this.timeFor = async () => this.m.clock.now();
  }

  /**
   * lockWallet locks a tenant's wallet of `unit` (created first when `create`; undefined when
   * absent otherwise) and settles it: grants past their expiry expire, holds past their TTL give
   * their credits back. Returns the settled row.
   */
  async lockWallet(
    tx: Tx,
    ctx: ActionContext,
    environmentId: string,
    tenantId: string,
    unit: string,
    create: true,
  ): Promise<WalletRow>;
  async lockWallet(
    tx: Tx,
    ctx: ActionContext,
    environmentId: string,
    tenantId: string,
    unit: string,
    create: boolean,
  ): Promise<WalletRow | undefined>;
  async lockWallet(
    tx: Tx,
    ctx: ActionContext,
    environmentId: string,
    tenantId: string,
    unit: string,
    create: boolean,
  ): Promise<WalletRow | undefined> {
    const now = await this.timeFor(environmentId, tenantId, tx);
    if (create) {
      await this.#db
        .q(tx)
        .insertInto("billing_credit_wallet")
        .values({
          id: newId("creditWallet", now),
          environment_id: environmentId,
          tenant_id: tenantId,
          unit,
          balance: 0,
          low_balance_threshold: null,
          low_notified: this.m.db.bool(false),
          block_feature: null,
          created_at: now,
          updated_at: now,
        })
        .onConflict((oc) => oc.columns(["environment_id", "tenant_id", "unit"]).doNothing())
        .execute();
    }
    const wallet = await this.#db
      .q(tx)
      .selectFrom("billing_credit_wallet")
      .selectAll()
      .where("environment_id", "=", environmentId)
      .where("tenant_id", "=", tenantId)
      .where("unit", "=", unit)
      .$call((qb) => this.m.db.forUpdate(qb))
      .executeTakeFirst();
    if (!wallet) return undefined;
    return this.#settleDue(tx, ctx, wallet, now);
  }

  /** settleDue expires a locked wallet's due grants and holds (an `expire` / `release` entry each). */
  async #settleDue(tx: Tx, ctx: ActionContext, wallet: WalletRow, now: number): Promise<WalletRow> {
    const holds = await this.#db
      .q(tx)
      .selectFrom("billing_credit_hold")
      .selectAll()
      .where("wallet_id", "=", wallet.id)
      .where("status", "=", "open")
      .where("expires_at", "<=", now)
      .orderBy("id")
      .execute();
    const row = { ...wallet };
    for (const hold of holds) await this.closeHold(tx, ctx, row, hold, "expired", 0, now);
    const grants = await this.#db
      .q(tx)
      .selectFrom("billing_credit_grant")
      .select(["id", "remaining"])
      .where("wallet_id", "=", wallet.id)
      .where("expired_at", "is", null)
      .where("expires_at", "<=", now)
      .orderBy("expires_at")
      .orderBy("id")
      .execute();
    if (grants.length === 0) return row;
    const before = Number(row.balance);
    let balance = before;
    for (const g of grants) {
      const part = Number(g.remaining);
      await this.#db
        .q(tx)
        .updateTable("billing_credit_grant")
        .set({ remaining: 0, expired_at: now })
        .where("id", "=", g.id)
        .where("expired_at", "is", null)
        .execute();
      if (part === 0) continue;
      balance -= part;
      await this.entry(tx, row, g.id, null, "expire", -part, balance, null, now);
      await this.m.facts.record(tx, ctx, {
        type: "credits.expired",
        environmentId: row.environment_id,
        tenantId: row.tenant_id,
        targets: [
          { type: "credit_wallet", id: row.id },
          { type: "credit_grant", id: g.id },
        ],
        data: { unit: row.unit, amount: part, balance },
      });
    }
    return this.settle(tx, ctx, row, before, balance, now);
  }

  /**
   * settle stores a wallet's new balance and records what crossing it means: `credits.low_balance`
   * once per fall to the threshold or below (armed again above it), `credits.depleted` on reaching
   * zero, and the blocking feature switched off at zero and on above it, all in `tx`.
   */
  async settle(
    tx: Tx,
    ctx: ActionContext,
    wallet: WalletRow,
    before: number,
    after: number,
    now: number,
  ): Promise<WalletRow> {
    const threshold = wallet.low_balance_threshold === null ? null : Number(wallet.low_balance_threshold);
    const low = threshold !== null && after <= threshold;
    const notify = low && !wallet.low_notified;
    const next = { balance: after, low_notified: this.m.db.bool(low), updated_at: now };
    await this.#db.q(tx).updateTable("billing_credit_wallet").set(next).where("id", "=", wallet.id).execute();
    const facts = { environmentId: wallet.environment_id, tenantId: wallet.tenant_id };
    const targets = [{ type: "credit_wallet", id: wallet.id }];
    if (notify) {
      await this.m.facts.record(tx, ctx, {
        type: "credits.low_balance",
        ...facts,
        targets,
        data: { unit: wallet.unit, balance: after, threshold },
      });
    }
    if (before > 0 && after === 0) {
      await this.m.facts.record(tx, ctx, { type: "credits.depleted", ...facts, targets, data: { unit: wallet.unit } });
    }
    if (wallet.block_feature !== null && before > 0 !== after > 0) {
      await this.usage.applyEntitlements(tx, ctx, wallet.environment_id, wallet.tenant_id, [
        { feature: wallet.block_feature, enabled: after > 0 },
      ]);
    }
    Object.assign(wallet, next);
    return wallet;
  }

  /**
   * take draws `amount` from a locked wallet's live grants, oldest-expiring first (no expiry
   * last, then oldest), writing one entry of `kind` per grant. The caller checked the balance.
   */
  async take(
    tx: Tx,
    wallet: WalletRow,
    amount: number,
    kind: CreditEntryKind,
    holdId: string | null,
    reference: string | null,
    now: number,
  ): Promise<{ balance: number; entries: BillingCreditEntryTable[] }> {
    const grants = await this.#db
      .q(tx)
      .selectFrom("billing_credit_grant")
      .select(["id", "remaining"])
      .where("wallet_id", "=", wallet.id)
      .where("remaining", ">", 0)
      .where("expired_at", "is", null)
      .orderBy(sql`case when expires_at is null then 1 else 0 end`)
      .orderBy("expires_at")
      .orderBy("id")
      .execute();
    let left = amount;
    let balance = Number(wallet.balance);
    const entries: BillingCreditEntryTable[] = [];
    for (const g of grants) {
      if (left === 0) break;
      const part = Math.min(left, Number(g.remaining));
      const r = await this.#db
        .q(tx)
        .updateTable("billing_credit_grant")
        .set((eb) => ({ remaining: eb("remaining", "-", part) }))
        .where("id", "=", g.id)
        .where("remaining", ">=", part)
        .executeTakeFirst();
      if (Number(r.numUpdatedRows) !== 1) throw new Error(`Credit grant ${g.id} changed under a locked wallet`);
      left -= part;
      balance -= part;
      entries.push(await this.entry(tx, wallet, g.id, holdId, kind, -part, balance, reference, now));
    }
    if (left !== 0) throw new Error(`Wallet ${wallet.id}: its grants hold less than its balance`);
    return { balance, entries };
  }

  /**
   * #giveBack returns `amount` of a hold to the grants it was taken from, the latest-expiring
   * first (so what the hold keeps is what expires soonest). A grant that expired meanwhile
   * expires the part it gets back at once. Returns the wallet's balance after.
   */
  async #giveBack(tx: Tx, ctx: ActionContext, wallet: WalletRow, hold: HoldRow, amount: number, now: number) {
    let balance = Number(wallet.balance);
    if (amount === 0) return balance;
    const parts = await this.#db
      .q(tx)
      .selectFrom("billing_credit_entry")
      .innerJoin("billing_credit_grant as g", "g.id", "billing_credit_entry.grant_id")
      .select(["billing_credit_entry.grant_id", "billing_credit_entry.amount", "g.expired_at"])
      .where("billing_credit_entry.hold_id", "=", hold.id)
      .where("billing_credit_entry.kind", "=", "hold")
      .orderBy("billing_credit_entry.id", "desc")
      .execute();
    let left = amount;
    let expired = 0;
    for (const p of parts) {
      if (left === 0) break;
      const part = Math.min(left, -Number(p.amount));
      left -= part;
      balance += part;
      await this.entry(tx, wallet, p.grant_id, hold.id, "release", part, balance, hold.reference, now);
      if (p.expired_at !== null) {
        balance -= part;
        expired += part;
        await this.entry(tx, wallet, p.grant_id, hold.id, "expire", -part, balance, null, now);
        continue;
      }
      await this.#db
        .q(tx)
        .updateTable("billing_credit_grant")
        .set((eb) => ({ remaining: eb("remaining", "+", part) }))
        .where("id", "=", p.grant_id)
        .execute();
    }
    if (expired > 0) {
      await this.m.facts.record(tx, ctx, {
        type: "credits.expired",
        environmentId: wallet.environment_id,
        tenantId: wallet.tenant_id,
        targets: [{ type: "credit_wallet", id: wallet.id }],
        data: { unit: wallet.unit, amount: expired, balance },
      });
    }
    return balance;
  }

  /**
   * closeHold ends an open hold of a locked wallet (committed: `committed` stays spent; released or
   * expired: nothing does), gives the rest back and records the hold's fact.
   */
  async closeHold(
    tx: Tx,
    ctx: ActionContext,
    wallet: WalletRow,
    hold: HoldRow,
    status: "committed" | "released" | "expired",
    committed: number,
    now: number,
  ): Promise<HoldRow> {
    const before = Number(wallet.balance);
    const after = await this.#giveBack(tx, ctx, wallet, hold, Number(hold.amount) - committed, now);
    const next = {
      status,
      committed_amount: status === "committed" ? committed : null,
      updated_at: now,
    };
    const r = await this.#db
      .q(tx)
      .updateTable("billing_credit_hold")
      .set(next)
      .where("id", "=", hold.id)
      .where("status", "=", "open")
      .executeTakeFirst();
    if (Number(r.numUpdatedRows) !== 1) throw new Error(`Credit hold ${hold.id} changed under a locked wallet`);
    const base = { unit: wallet.unit, amount: Number(hold.amount), balance: after };
    await this.m.facts.record(tx, ctx, {
      type: `credit_hold.${status}`,
      environmentId: wallet.environment_id,
      tenantId: wallet.tenant_id,
      targets: [
        { type: "credit_hold", id: hold.id },
        { type: "credit_wallet", id: wallet.id },
      ],
      data: status === "committed" ? { ...base, committedAmount: committed } : base,
    });
    await this.settle(tx, ctx, wallet, before, after, now);
    wallet.balance = after;
    return { ...hold, ...next };
  }

  /** entry appends one ledger entry (the caller changed the grant's `remaining` by `amount`). */
  async entry(
    tx: Tx,
    wallet: WalletRow,
    grantId: string,
    holdId: string | null,
    kind: CreditEntryKind,
    amount: number,
    balanceAfter: number,
    reference: string | null,
    now: number,
  ): Promise<BillingCreditEntryTable> {
    const row: BillingCreditEntryTable = {
      id: newId("creditEntry", now),
      environment_id: wallet.environment_id,
      tenant_id: wallet.tenant_id,
      wallet_id: wallet.id,
      grant_id: grantId,
      hold_id: holdId,
      kind,
      amount,
      balance_after: balanceAfter,
      reference,
      created_at: now,
    };
    await this.#db.q(tx).insertInto("billing_credit_entry").values(row).execute();
    return row;
  }

  /** heldOf sums the open holds of each wallet. */
  async heldOf(walletIds: string[], tx?: Tx): Promise<Map<string, number>> {
    if (walletIds.length === 0) return new Map();
    const rows = await this.#db
      .q(tx)
      .selectFrom("billing_credit_hold")
      .select((eb) => ["wallet_id", eb.fn.sum<number | string>("amount").as("held")])
      .where("wallet_id", "in", walletIds)
      .where("status", "=", "open")
      .groupBy("wallet_id")
      .execute();
    return new Map(rows.map((r) => [r.wallet_id, Number(r.held)]));
  }

  async walletById(tx: Tx, id: string): Promise<WalletRow> {
    return this.#db
      .q(tx)
      .selectFrom("billing_credit_wallet")
      .selectAll()
      .where("id", "=", id)
      .executeTakeFirstOrThrow();
  }

  /**
   * authorized reads a wallet or hold of the caller's environment and checks `permission` on its
   * tenant: another tenant's or environment's answers `notFound` (404), never 403.
   */
  async authorized(
    ctx: ActionContext,
    permission: string,
    table: "billing_credit_wallet" | "billing_credit_hold",
    id: string,
    notFound: () => AppError,
  ) {
    const environmentId = ctx.principal?.environmentId;
    const row = environmentId
      ? await this.#db
          .q()
          .selectFrom(table)
          .selectAll()
          .where("environment_id", "=", environmentId)
          .where("id", "=", id)
          .executeTakeFirst()
      : undefined;
    if (!row) {
      await this.m.access.require(ctx, permission);
      throw notFound();
    }
    await this.m.access.requireOn(ctx, permission, row.tenant_id, notFound);
    return row;
  }
}
