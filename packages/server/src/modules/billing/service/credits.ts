import { type Selectable, sql } from "kysely";
import type { z } from "zod";
import { fromJson, type Tx, type TypedDb } from "../../../platform/db/db.js";
import { AppError } from "../../../platform/errors.js";
import { pageById } from "../../../platform/http/pagination.js";
import type { ModuleContext } from "../../../platform/module.js";
import { type ActionContext, systemContext } from "../../../platform/principal.js";
import type { UsageService } from "../../usage/index.js";
import type {
  CommitCreditsInput,
  ConsumeCreditsInput,
  CreditConsumption,
  CreditGrant,
  CreditHold,
  GrantCreditsInput,
  ListCreditEntriesQuery,
  ListGrantsQuery,
  ListWalletsQuery,
  PlanCredits,
  ReserveCreditsInput,
  UpdateWalletInput,
  Wallet,
} from "../credit-schemas.js";
import { BillingErrors } from "../errors.js";
import { newId } from "../ids.js";
import { toCreditEntry, toCreditGrant, toCreditHold, toWallet } from "../internal/credit-rows.js";
import type {
  BillingCreditEntryTable,
  BillingCreditGrantTable,
  BillingCreditHoldTable,
  BillingCreditWalletTable,
  BillingTables,
  CreditEntryKind,
  CreditSource,
} from "../tables.js";

/** EXPIRE_CREDITS_JOB: the recurring job that expires due grants and holds past their TTL. */
export const EXPIRE_CREDITS_JOB = "billing.expire_credits";

const DAY = 86_400_000;

type WalletRow = Selectable<BillingCreditWalletTable>;
type HoldRow = Selectable<BillingCreditHoldTable>;

/** GrantInTx: what `grantIn` adds to a tenant's wallet (the caller authorized it). */
export interface GrantInTx {
  environmentId: string;
  tenantId: string;
  unit: string;
  amount: number;
  source: CreditSource;
  expiresAt?: number | null;
  reference?: string | null;
  description?: string;
}

/**
 * CreditsService: prepaid credits. A wallet per tenant × unit holds grants (from a plan each
 * period, top-ups, operators, overpayments), spent oldest-expiring first (grants without expiry
 * last). Every change is written to the append-only ledger (`billing_credit_entry`), one entry
 * per grant it touches, so a wallet's balance and each grant's remaining are the sums of their
 * entries. Every change locks the wallet row first (PostgreSQL `FOR UPDATE`; SQLite's single
 * writer), settles what fell due on it (expired grants, holds past their TTL), then decides on
 * what it reads under that lock: no interleaving ever takes the balance below zero (the column's
 * CHECK refuses it too).
 *
 * Holds take their credits off the balance when reserved; a commit keeps what the work cost and
 * gives the rest back, a release or an expired TTL gives it all back (to the grants it came from;
 * a grant that expired meanwhile expires the part it gets back at once).
 */
export class CreditsService {
  readonly #db: TypedDb<BillingTables>;

  constructor(
    private readonly m: ModuleContext,
    private readonly usage: UsageService,
  ) {
    this.#db = m.db.tables<BillingTables>();
  }

  /** grantCredits adds an operator's grant or a recorded top-up to a tenant's wallet of `unit`. */
  async grantCredits(ctx: ActionContext, input: GrantCreditsInput): Promise<CreditGrant> {
    const { environmentId, tenantId } = await this.m.access.require(ctx, "billing:manage", {
      tenantId: input.tenantId,
      field: "body.tenantId",
    });
    if (input.expiresAt !== undefined && input.expiresAt <= this.m.clock.now()) {
      throw new AppError(BillingErrors.invalid_credit_expiry, "expiresAt is not in the future.", {
        errors: [{ path: "body.expiresAt", message: "must be in the future" }],
      });
    }
    return this.m.db.write(ctx, (tx) =>
      this.grantIn(tx, ctx, {
        environmentId,
        tenantId: tenantId as string,
        unit: input.unit,
        amount: input.amount,
        source: input.source,
        expiresAt: input.expiresAt ?? null,
        reference: input.reference ?? null,
        description: input.description,
      }),
    );
  }

  /**
   * grantIn adds a grant inside the caller's `tx`, for a caller that already authorized it: a plan's
   * period grant (subscriptions), an overpayment (payments: source `overpayment`, unit the invoice's
   * currency, amount in its minor units). Creates the wallet when the tenant has none of `unit`.
   */
  async grantIn(tx: Tx, ctx: ActionContext, g: GrantInTx): Promise<CreditGrant> {
    const wallet = await this.#lockWallet(tx, ctx, g.environmentId, g.tenantId, g.unit, true);
    const now = this.m.clock.now();
    const row: BillingCreditGrantTable = {
      id: newId("creditGrant", now),
      environment_id: g.environmentId,
      tenant_id: g.tenantId,
      wallet_id: wallet.id,
      source: g.source,
      amount: g.amount,
      remaining: g.amount,
      expires_at: g.expiresAt ?? null,
      expired_at: null,
      reference: g.reference ?? null,
      description: g.description ?? "",
      created_at: now,
    };
    await this.#db.q(tx).insertInto("billing_credit_grant").values(row).execute();
    const before = Number(wallet.balance);
    const after = before + g.amount;
    await this.#entry(tx, wallet, row.id, null, "grant", g.amount, after, row.reference, now);
    await this.m.facts.record(tx, ctx, {
      type: "credits.granted",
      environmentId: g.environmentId,
      tenantId: g.tenantId,
      targets: [
        { type: "credit_wallet", id: wallet.id },
        { type: "credit_grant", id: row.id },
      ],
      data: { unit: g.unit, amount: g.amount, source: g.source, expiresAt: row.expires_at, balance: after },
    });
    await this.#settle(tx, ctx, wallet, before, after, now);
    return toCreditGrant(row, g.unit);
  }

  /**
   * grantForPeriod grants a plan version's period credits (source `plan`) to a subscription's
   * tenant, inside the transaction that starts the subscription or one of its periods. A grant
   * with `expiresAfterDays` expires that many days after the period's start.
   */
  async grantForPeriod(
    tx: Tx,
    ctx: ActionContext,
    sub: { id: string; environment_id: string; tenant_id: string },
    version: { credits: unknown },
    periodStart: number,
  ): Promise<void> {
    const credits = version.credits == null ? [] : fromJson<PlanCredits>(version.credits);
    for (const c of credits) {
      await this.grantIn(tx, ctx, {
        environmentId: sub.environment_id,
        tenantId: sub.tenant_id,
        unit: c.unit,
        amount: c.amount,
        source: "plan",
        expiresAt: c.expiresAfterDays === undefined ? null : periodStart + c.expiresAfterDays * DAY,
        reference: sub.id,
        description: "Plan credits for the period",
      });
    }
  }

  /** consumeCredits spends `amount` from a wallet now, all or nothing (409 `insufficient_credits`). */
  async consumeCredits(ctx: ActionContext, input: z.infer<typeof ConsumeCreditsInput>): Promise<CreditConsumption> {
    const { environmentId, tenantId } = await this.m.access.require(ctx, "billing:manage", {
      tenantId: input.tenantId,
      field: "body.tenantId",
    });
    return this.m.db.write(ctx, async (tx) => {
      const wallet = await this.#lockWallet(tx, ctx, environmentId, tenantId as string, input.unit, false);
      if (!wallet || Number(wallet.balance) < input.amount) {
        const balance = wallet ? Number(wallet.balance) : 0;
        throw new AppError(
          BillingErrors.insufficient_credits,
          `Consuming ${input.amount} ${input.unit} needs more than the balance ${balance}.`,
        );
      }
      return this.#consume(tx, ctx, wallet, input.amount, input.reference ?? null);
    });
  }

  /**
   * consumeForInvoice applies the tenant's money credits in the invoice's currency to an invoice's
   * total inside the caller's (finalization) `tx`: as much as the balance covers, oldest-expiring
   * grants first, each `consume` entry referencing the invoice. Returns the minor units applied
   * (0 without a wallet or balance). The caller takes them off what the invoice leaves to pay.
   */
  async consumeForInvoice(
    tx: Tx,
    ctx: ActionContext,
    environmentId: string,
    tenantId: string,
    currency: string,
    amountMinor: number,
    invoiceId: string,
  ): Promise<number> {
    if (amountMinor <= 0) return 0;
    const wallet = await this.#lockWallet(tx, ctx, environmentId, tenantId, currency, false);
    if (!wallet) return 0;
    const applied = Math.min(Number(wallet.balance), amountMinor);
    if (applied === 0) return 0;
    await this.#consume(tx, ctx, wallet, applied, invoiceId);
    return applied;
  }

  /** reserve holds `amount` of a wallet for `ttlSeconds` (409 `insufficient_credits` when the balance is short). */
  async reserve(ctx: ActionContext, input: z.infer<typeof ReserveCreditsInput>): Promise<CreditHold> {
    const { environmentId, tenantId } = await this.m.access.require(ctx, "billing:manage", {
      tenantId: input.tenantId,
      field: "body.tenantId",
    });
    return this.m.db.write(ctx, async (tx) => {
      const wallet = await this.#lockWallet(tx, ctx, environmentId, tenantId as string, input.unit, false);
      const balance = wallet ? Number(wallet.balance) : 0;
      if (!wallet || balance < input.amount) {
        throw new AppError(
          BillingErrors.insufficient_credits,
          `Reserving ${input.amount} ${input.unit} needs more than the balance ${balance}.`,
        );
      }
      const now = this.m.clock.now();
      const row: BillingCreditHoldTable = {
        id: newId("creditHold", now),
        environment_id: environmentId,
        tenant_id: wallet.tenant_id,
        wallet_id: wallet.id,
        amount: input.amount,
        status: "open",
        committed_amount: null,
        reference: input.reference ?? null,
        expires_at: now + input.ttlSeconds * 1000,
        created_at: now,
        updated_at: now,
      };
      await this.#db.q(tx).insertInto("billing_credit_hold").values(row).execute();
      const after = await this.#take(tx, wallet, input.amount, "hold", row.id, row.reference, now);
      await this.m.facts.record(tx, ctx, {
        type: "credit_hold.reserved",
        environmentId,
        tenantId: wallet.tenant_id,
        targets: [
          { type: "credit_hold", id: row.id },
          { type: "credit_wallet", id: wallet.id },
        ],
        data: { unit: wallet.unit, amount: row.amount, expiresAt: row.expires_at, balance: after.balance },
      });
      await this.#settle(tx, ctx, wallet, balance, after.balance, now);
      return toCreditHold(row, wallet.unit);
    });
  }

  async findHold(ctx: ActionContext, id: string): Promise<CreditHold> {
    const hold = await this.#authorizedHold(ctx, "billing:read", id);
    return toCreditHold(hold, await this.#unitOf(hold.wallet_id));
  }

  /**
   * commit ends an open hold with what the work cost (`amount` ≤ reserved, 422 otherwise): that
   * much stays spent, the rest goes back. 409 `credit_hold_not_open` when the hold was committed,
   * released or its TTL passed.
   */
  async commit(ctx: ActionContext, id: string, input: z.infer<typeof CommitCreditsInput>): Promise<CreditHold> {
    const found = await this.#authorizedHold(ctx, "billing:manage", id);
    if (input.amount > Number(found.amount)) {
      throw new AppError(
        BillingErrors.commit_exceeds_hold,
        `Hold ${id} reserved ${found.amount}: it cannot commit ${input.amount}.`,
      );
    }
    return this.#close(ctx, found, "committed", input.amount);
  }

  /** release ends an open hold unused: all its credits go back. 409 when it is no longer open. */
  async release(ctx: ActionContext, id: string): Promise<CreditHold> {
    return this.#close(ctx, await this.#authorizedHold(ctx, "billing:manage", id), "released", 0);
  }

  async listWallets(ctx: ActionContext, query: z.infer<typeof ListWalletsQuery>) {
    const access = await this.m.access.require(ctx, "billing:read", {
      tenantId: query.tenantId ?? null,
      field: "query.tenantId",
    });
    const rows = this.#db
      .q()
      .selectFrom("billing_credit_wallet")
      .selectAll()
      .where("environment_id", "=", access.environmentId)
      .$if(access.tenantId !== null, (qb) => qb.where("tenant_id", "=", access.tenantId as string));
    const page = await pageById(rows, query, (r) => r);
    const held = await this.#heldOf(page.data.map((w) => w.id));
    return { data: page.data.map((w) => toWallet(w, held.get(w.id) ?? 0)), nextCursor: page.nextCursor };
  }

  async findWallet(ctx: ActionContext, id: string): Promise<Wallet> {
    const row = await this.#authorizedWallet(ctx, "billing:read", id);
    return toWallet(row, (await this.#heldOf([row.id])).get(row.id) ?? 0);
  }

  /**
   * updateWallet sets a wallet's low-balance threshold and its blocking feature. A new blocking
   * feature is switched on or off at once, by the balance now.
   */
  async updateWallet(ctx: ActionContext, id: string, input: z.infer<typeof UpdateWalletInput>): Promise<Wallet> {
    const found = await this.#authorizedWallet(ctx, "billing:manage", id);
    return this.m.db.write(ctx, async (tx) => {
      const wallet = await this.#lockWallet(tx, ctx, found.environment_id, found.tenant_id, found.unit, false);
      if (!wallet) throw new AppError(BillingErrors.wallet_not_found, `No wallet ${id}.`);
      const next = {
        low_balance_threshold:
          input.lowBalanceThreshold === undefined ? wallet.low_balance_threshold : input.lowBalanceThreshold,
        block_feature: input.blockFeature === undefined ? wallet.block_feature : input.blockFeature,
      };
      const changed = (["low_balance_threshold", "block_feature"] as const).filter((k) => next[k] !== wallet[k]);
      const held = (await this.#heldOf([wallet.id], tx)).get(wallet.id) ?? 0;
      if (changed.length === 0) return toWallet(wallet, held);
      const now = this.m.clock.now();
      const balance = Number(wallet.balance);
      await this.#db
        .q(tx)
        .updateTable("billing_credit_wallet")
        .set({ ...next, low_notified: this.m.db.bool(false), updated_at: now })
        .where("id", "=", wallet.id)
        .execute();
      const names = { low_balance_threshold: "lowBalanceThreshold", block_feature: "blockFeature" } as const;
      await this.m.facts.record(tx, ctx, {
        type: "credit_wallet.updated",
        environmentId: wallet.environment_id,
        tenantId: wallet.tenant_id,
        targets: [{ type: "credit_wallet", id: wallet.id }],
        changes: {
          before: Object.fromEntries(changed.map((k) => [names[k], wallet[k]])),
          after: Object.fromEntries(changed.map((k) => [names[k], next[k]])),
        },
      });
      const updated = { ...wallet, ...next, low_notified: false, updated_at: now };
      if (next.block_feature !== null && next.block_feature !== wallet.block_feature) {
        await this.usage.applyEntitlements(tx, ctx, wallet.environment_id, wallet.tenant_id, [
          { feature: next.block_feature, enabled: balance > 0 },
        ]);
      }
      // The new threshold may already be crossed.
      await this.#settle(tx, ctx, updated, balance, balance, now);
      return toWallet(updated, held);
    });
  }

  async listGrants(ctx: ActionContext, query: z.infer<typeof ListGrantsQuery>) {
    const access = await this.m.access.require(ctx, "billing:read", {
      tenantId: query.tenantId ?? null,
      field: "query.tenantId",
    });
    const rows = this.#db
      .q()
      .selectFrom("billing_credit_grant")
      .selectAll()
      .where("environment_id", "=", access.environmentId)
      .$if(access.tenantId !== null, (qb) => qb.where("tenant_id", "=", access.tenantId as string))
      .$if(query.walletId !== undefined, (qb) => qb.where("wallet_id", "=", query.walletId as string));
    const page = await pageById(rows, query, (r) => r, { descending: true });
    const ids = [...new Set(page.data.map((g) => g.wallet_id))];
    const units =
      ids.length === 0
        ? []
        : await this.#db
            .q()
            .selectFrom("billing_credit_wallet")
            .select(["id", "unit"])
            .where("id", "in", ids)
            .execute();
    const unitOf = new Map(units.map((w) => [w.id, w.unit]));
    return { data: page.data.map((g) => toCreditGrant(g, unitOf.get(g.wallet_id) ?? "")), nextCursor: page.nextCursor };
  }

  async listEntries(ctx: ActionContext, query: z.infer<typeof ListCreditEntriesQuery>) {
    const access = await this.m.access.require(ctx, "billing:read", {
      tenantId: query.tenantId ?? null,
      field: "query.tenantId",
    });
    const rows = this.#db
      .q()
      .selectFrom("billing_credit_entry")
      .selectAll()
      .where("environment_id", "=", access.environmentId)
      .$if(access.tenantId !== null, (qb) => qb.where("tenant_id", "=", access.tenantId as string))
      .$if(query.walletId !== undefined, (qb) => qb.where("wallet_id", "=", query.walletId as string));
    return pageById(rows, query, toCreditEntry, { descending: true });
  }

  /**
   * expireDue expires what fell due across the plane: grants past `expires_at` with credits left
   * and open holds past their TTL, one wallet per transaction (locked), at most `limit` wallets per
   * run. Operations on a wallet settle it first anyway; this writes the entries for idle ones.
   */
  async expireDue(limit = 200): Promise<number> {
    const now = this.m.clock.now();
    const q = this.#db.q();
    const [grants, holds] = await Promise.all([
      q
        .selectFrom("billing_credit_grant")
        .select("wallet_id")
        .where("expired_at", "is", null)
        .where("expires_at", "<=", now)
        .orderBy("expires_at")
        .limit(limit)
        .execute(),
      q
        .selectFrom("billing_credit_hold")
        .select("wallet_id")
        .where("status", "=", "open")
        .where("expires_at", "<=", now)
        .orderBy("expires_at")
        .limit(limit)
        .execute(),
    ]);
    const wallets = [...new Set([...grants, ...holds].map((r) => r.wallet_id))].slice(0, limit);
    const ctx = systemContext(newId("request"), "billing");
    let settled = 0;
    for (const id of wallets) {
      try {
        await this.m.db.write(ctx, async (tx) => {
          const w = await this.#db
            .q(tx)
            .selectFrom("billing_credit_wallet")
            .selectAll()
            .where("id", "=", id)
            .executeTakeFirstOrThrow();
          await this.#lockWallet(tx, ctx, w.environment_id, w.tenant_id, w.unit, false);
        });
        settled++;
      } catch (err) {
        this.m.logger.error({ err, walletId: id }, "expiring credits failed");
      }
    }
    return settled;
  }

  /** #consume spends `amount` (≤ the balance) of a locked, settled wallet: `consume` entries and the fact. */
  async #consume(
    tx: Tx,
    ctx: ActionContext,
    wallet: WalletRow,
    amount: number,
    reference: string | null,
  ): Promise<CreditConsumption> {
    const now = this.m.clock.now();
    const before = Number(wallet.balance);
    const taken = await this.#take(tx, wallet, amount, "consume", null, reference, now);
    await this.m.facts.record(tx, ctx, {
      type: "credits.consumed",
      environmentId: wallet.environment_id,
      tenantId: wallet.tenant_id,
      targets: [{ type: "credit_wallet", id: wallet.id }],
      data: { unit: wallet.unit, amount, balance: taken.balance, reference },
    });
    const settled = await this.#settle(tx, ctx, wallet, before, taken.balance, now);
    const held = (await this.#heldOf([wallet.id], tx)).get(wallet.id) ?? 0;
    return { wallet: toWallet(settled, held), amount, entries: taken.entries.map(toCreditEntry) };
  }

  /**
   * #take draws `amount` from a locked wallet's live grants, oldest-expiring first (no expiry
   * last, then oldest), writing one entry of `kind` per grant. The caller checked the balance.
   */
  async #take(
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
      entries.push(await this.#entry(tx, wallet, g.id, holdId, kind, -part, balance, reference, now));
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
      await this.#entry(tx, wallet, p.grant_id, hold.id, "release", part, balance, hold.reference, now);
      if (p.expired_at !== null) {
        balance -= part;
        expired += part;
        await this.#entry(tx, wallet, p.grant_id, hold.id, "expire", -part, balance, null, now);
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

  /** #close commits, releases or expires an open hold on its locked wallet. */
  async #close(
    ctx: ActionContext,
    found: HoldRow,
    status: "committed" | "released",
    committed: number,
  ): Promise<CreditHold> {
    return this.m.db.write(ctx, async (tx) => {
      const wallet = await this.#walletById(tx, found.wallet_id);
      // Settling the wallet first expires this hold when its TTL passed.
      const locked = await this.#lockWallet(tx, ctx, wallet.environment_id, wallet.tenant_id, wallet.unit, false);
      if (!locked) throw new Error(`Wallet ${found.wallet_id} disappeared`);
      const hold = await this.#db
        .q(tx)
        .selectFrom("billing_credit_hold")
        .selectAll()
        .where("id", "=", found.id)
        .executeTakeFirstOrThrow();
      if (hold.status !== "open") {
        throw new AppError(BillingErrors.credit_hold_not_open, `Hold ${hold.id} is ${hold.status}.`);
      }
      const now = this.m.clock.now();
      return toCreditHold(await this.#closeIn(tx, ctx, locked, hold, status, committed, now), wallet.unit);
    });
  }

  async #closeIn(
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
    await this.#settle(tx, ctx, wallet, before, after, now);
    wallet.balance = after;
    return { ...hold, ...next };
  }

  /**
   * #lockWallet locks a tenant's wallet of `unit` (created first when `create`; undefined when
   * absent otherwise) and settles it: grants past their expiry expire, holds past their TTL give
   * their credits back. Returns the settled row.
   */
  async #lockWallet(
    tx: Tx,
    ctx: ActionContext,
    environmentId: string,
    tenantId: string,
    unit: string,
    create: true,
  ): Promise<WalletRow>;
  async #lockWallet(
    tx: Tx,
    ctx: ActionContext,
    environmentId: string,
    tenantId: string,
    unit: string,
    create: boolean,
  ): Promise<WalletRow | undefined>;
  async #lockWallet(
    tx: Tx,
    ctx: ActionContext,
    environmentId: string,
    tenantId: string,
    unit: string,
    create: boolean,
  ): Promise<WalletRow | undefined> {
    const now = this.m.clock.now();
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

  /** #settleDue expires a locked wallet's due grants and holds (an `expire` / `release` entry each). */
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
    for (const hold of holds) await this.#closeIn(tx, ctx, row, hold, "expired", 0, now);
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
      await this.#entry(tx, row, g.id, null, "expire", -part, balance, null, now);
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
    return this.#settle(tx, ctx, row, before, balance, now);
  }

  /**
   * #settle stores a wallet's new balance and records what crossing it means: `credits.low_balance`
   * once per fall to the threshold or below (armed again above it), `credits.depleted` on reaching
   * zero, and the blocking feature switched off at zero and on above it, all in `tx`.
   */
  async #settle(
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

  async #entry(
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

  async #heldOf(walletIds: string[], tx?: Tx): Promise<Map<string, number>> {
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

  async #walletById(tx: Tx, id: string): Promise<WalletRow> {
    return this.#db
      .q(tx)
      .selectFrom("billing_credit_wallet")
      .selectAll()
      .where("id", "=", id)
      .executeTakeFirstOrThrow();
  }

  async #unitOf(walletId: string): Promise<string> {
    const row = await this.#db
      .q()
      .selectFrom("billing_credit_wallet")
      .select("unit")
      .where("id", "=", walletId)
      .executeTakeFirstOrThrow();
    return row.unit;
  }

  async #authorizedWallet(ctx: ActionContext, permission: string, id: string): Promise<WalletRow> {
    const notFound = () => new AppError(BillingErrors.wallet_not_found, `No wallet ${id}.`);
    return this.#authorized(ctx, permission, "billing_credit_wallet", id, notFound) as Promise<WalletRow>;
  }

  async #authorizedHold(ctx: ActionContext, permission: string, id: string): Promise<HoldRow> {
    const notFound = () => new AppError(BillingErrors.credit_hold_not_found, `No credit hold ${id}.`);
    return this.#authorized(ctx, permission, "billing_credit_hold", id, notFound) as Promise<HoldRow>;
  }

  async #authorized(
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
