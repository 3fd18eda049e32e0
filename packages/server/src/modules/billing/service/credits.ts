import { sql } from "kysely";
import type { z } from "zod";
import { fromJson, type Tx, type TypedDb } from "../../../platform/db/db.js";
import { AppError } from "../../../platform/errors.js";
import { pageById } from "../../../platform/http/pagination.js";
import { isoOrNull } from "../../../platform/http/schemas.js";
import type { ModuleContext } from "../../../platform/module.js";
import { type ActionContext, systemContext } from "../../../platform/principal.js";
import type { UsageService } from "../../usage/index.js";
import type {
  ConsumeCreditsInput,
  CreditConsumption,
  CreditGrant,
  GrantCreditsInput,
  ListCreditEntriesQuery,
  ListGrantsQuery,
  ListWalletsQuery,
  PlanCredits,
  UpdateWalletInput,
  Wallet,
} from "../credit-schemas.js";
import { BillingErrors } from "../errors.js";
import { newId } from "../ids.js";
import type { CreditLedger, WalletRow } from "../internal/credit-ledger.js";
import { toCreditEntry, toCreditGrant, toWallet } from "../internal/credit-rows.js";
import type { BillingCreditGrantTable, BillingTables, CreditSource } from "../tables.js";
import type { ClockTime } from "./clocks.js";

/** EXPIRE_CREDITS_JOB: the recurring job that expires due grants and holds past their TTL. */
export const EXPIRE_CREDITS_JOB = "billing.expire_credits";

const DAY = 86_400_000;

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
 * last). Every change goes through the `CreditLedger`: on the locked, settled wallet row, written
 * to the append-only ledger, so no interleaving ever takes a balance below zero (the column's
 * CHECK refuses it too) and every balance is the sum of its entries. Holds: `CreditHoldsService`.
 */
export class CreditsService {
  readonly #db: TypedDb<BillingTables>;

  constructor(
    private readonly m: ModuleContext,
    private readonly ledger: CreditLedger,
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
    if (
      input.expiresAt !== undefined &&
      input.expiresAt <= (await this.ledger.timeFor(environmentId, tenantId as string))
    ) {
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
    const wallet = await this.ledger.lockWallet(tx, ctx, g.environmentId, g.tenantId, g.unit, true);
    const now = await this.ledger.timeFor(g.environmentId, g.tenantId, tx);
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
    await this.ledger.entry(tx, wallet, row.id, null, "grant", g.amount, after, row.reference, now);
    await this.m.facts.record(tx, ctx, {
      type: "credits.granted",
      environmentId: g.environmentId,
      tenantId: g.tenantId,
      targets: [
        { type: "credit_wallet", id: wallet.id },
        { type: "credit_grant", id: row.id },
      ],
      data: { unit: g.unit, amount: g.amount, source: g.source, expiresAt: isoOrNull(row.expires_at), balance: after },
    });
    await this.ledger.settle(tx, ctx, wallet, before, after, now);
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
      const wallet = await this.ledger.lockWallet(tx, ctx, environmentId, tenantId as string, input.unit, false);
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
    const wallet = await this.ledger.lockWallet(tx, ctx, environmentId, tenantId, currency, false);
    if (!wallet) return 0;
    const applied = Math.min(Number(wallet.balance), amountMinor);
    if (applied === 0) return 0;
    await this.#consume(tx, ctx, wallet, applied, invoiceId);
    return applied;
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
      .$if(access.tenantId !== null, (qb) => qb.where("tenant_id", "=", access.tenantId as string))
      .$if(access.environmentOnly === true, (qb) => qb.where("tenant_id", "is", null));
    const page = await pageById(rows, query, (r) => r);
    const held = await this.ledger.heldOf(page.data.map((w) => w.id));
    return {
      data: page.data.map((w) => toWallet(w, held.get(w.id) ?? 0)),
      hasMore: page.hasMore,
      nextCursor: page.nextCursor,
    };
  }

  async findWallet(ctx: ActionContext, id: string): Promise<Wallet> {
    const row = await this.#authorizedWallet(ctx, "billing:read", id);
    return toWallet(row, (await this.ledger.heldOf([row.id])).get(row.id) ?? 0);
  }

  /**
   * updateWallet sets a wallet's low-balance threshold and its blocking feature. A new blocking
   * feature is switched on or off at once, by the balance now.
   */
  async updateWallet(ctx: ActionContext, id: string, input: z.infer<typeof UpdateWalletInput>): Promise<Wallet> {
    const found = await this.#authorizedWallet(ctx, "billing:manage", id);
    return this.m.db.write(ctx, async (tx) => {
      const wallet = await this.ledger.lockWallet(tx, ctx, found.environment_id, found.tenant_id, found.unit, false);
      if (!wallet) throw new AppError(BillingErrors.wallet_not_found, `No wallet ${id}.`);
      const next = {
        low_balance_threshold:
          input.lowBalanceThreshold === undefined ? wallet.low_balance_threshold : input.lowBalanceThreshold,
        block_feature: input.blockFeature === undefined ? wallet.block_feature : input.blockFeature,
      };
      const changed = (["low_balance_threshold", "block_feature"] as const).filter((k) => next[k] !== wallet[k]);
      const held = (await this.ledger.heldOf([wallet.id], tx)).get(wallet.id) ?? 0;
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
      await this.ledger.settle(tx, ctx, updated, balance, balance, now);
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
      .$if(access.environmentOnly === true, (qb) => qb.where("tenant_id", "is", null))
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
    return {
      data: page.data.map((g) => toCreditGrant(g, unitOf.get(g.wallet_id) ?? "")),
      hasMore: page.hasMore,
      nextCursor: page.nextCursor,
    };
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
      .$if(access.environmentOnly === true, (qb) => qb.where("tenant_id", "is", null))
      .$if(query.walletId !== undefined, (qb) => qb.where("wallet_id", "=", query.walletId as string));
    return pageById(rows, query, toCreditEntry, { descending: true });
  }

  /**
   * expireDue expires what fell due across the plane: grants past `expires_at` with credits left
   * and open holds past their TTL, one wallet per transaction (locked), at most `limit` wallets per
   * run. Operations on a wallet settle it first anyway; this writes the entries for idle ones.
   */
  async expireDue(limit = 200, clock?: ClockTime): Promise<number> {
    const now = clock?.now ?? this.m.clock.now();
    const q = this.#db.q();
    // Real time settles the tenants on no test clock; a clock's run, its own tenants at its time.
    const onClock = clock
      ? await q
          .selectFrom("billing_test_clock_tenant")
          .select("tenant_id")
          .where("test_clock_id", "=", clock.clockId)
          .execute()
          .then((rows) => rows.map((r) => r.tenant_id))
      : null;
    if (onClock !== null && onClock.length === 0) return 0;
    const offClock = (table: "billing_credit_grant" | "billing_credit_hold") =>
      sql<boolean>`not exists (select 1 from billing_test_clock_tenant c where c.tenant_id = ${sql.ref(`${table}.tenant_id`)} and c.environment_id = ${sql.ref(`${table}.environment_id`)})`;
    const [grants, holds] = await Promise.all([
      q
        .selectFrom("billing_credit_grant")
        .select("wallet_id")
        .where("expired_at", "is", null)
        .where("expires_at", "<=", now)
        .$if(onClock !== null, (qb) => qb.where("tenant_id", "in", onClock as string[]))
        .$if(onClock === null, (qb) => qb.where(offClock("billing_credit_grant")))
        .orderBy("expires_at")
        .limit(limit)
        .execute(),
      q
        .selectFrom("billing_credit_hold")
        .select("wallet_id")
        .where("status", "=", "open")
        .where("expires_at", "<=", now)
        .$if(onClock !== null, (qb) => qb.where("tenant_id", "in", onClock as string[]))
        .$if(onClock === null, (qb) => qb.where(offClock("billing_credit_hold")))
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
          await this.ledger.lockWallet(tx, ctx, w.environment_id, w.tenant_id, w.unit, false);
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
    const now = await this.ledger.timeFor(wallet.environment_id, wallet.tenant_id, tx);
    const before = Number(wallet.balance);
    const taken = await this.ledger.take(tx, wallet, amount, "consume", null, reference, now);
    await this.m.facts.record(tx, ctx, {
      type: "credits.consumed",
      environmentId: wallet.environment_id,
      tenantId: wallet.tenant_id,
      targets: [{ type: "credit_wallet", id: wallet.id }],
      data: { unit: wallet.unit, amount, balance: taken.balance, reference },
    });
    const settled = await this.ledger.settle(tx, ctx, wallet, before, taken.balance, now);
    const held = (await this.ledger.heldOf([wallet.id], tx)).get(wallet.id) ?? 0;
    return { wallet: toWallet(settled, held), amount, entries: taken.entries.map(toCreditEntry) };
  }

  async #authorizedWallet(ctx: ActionContext, permission: string, id: string): Promise<WalletRow> {
    const notFound = () => new AppError(BillingErrors.wallet_not_found, `No wallet ${id}.`);
    return this.ledger.authorized(ctx, permission, "billing_credit_wallet", id, notFound) as Promise<WalletRow>;
  }
}
