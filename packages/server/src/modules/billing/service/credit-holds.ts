import type { z } from "zod";
import type { TypedDb } from "../../../platform/db/db.js";
import { AppError } from "../../../platform/errors.js";
import { iso } from "../../../platform/http/schemas.js";
import type { ModuleContext } from "../../../platform/module.js";
import type { ActionContext } from "../../../platform/principal.js";
import type { CommitCreditsInput, CreditHold, ReserveCreditsInput } from "../credit-schemas.js";
import { BillingErrors } from "../errors.js";
import { newId } from "../ids.js";
import type { CreditLedger, HoldRow } from "../internal/credit-ledger.js";
import { toCreditHold } from "../internal/credit-rows.js";
import type { BillingCreditHoldTable, BillingTables } from "../tables.js";

/**
 * CreditHoldsService: credits reserved before costly work. A hold takes its amount off the balance
 * at once (from the grants expiring first); a commit keeps what the work cost (at most the amount)
 * and gives the rest back, a release or a TTL that passed gives it all back — to the grants it came
 * from, a grant that expired meanwhile expiring the part it gets back at once (see `CreditLedger`).
 */
export class CreditHoldsService {
  readonly #db: TypedDb<BillingTables>;

  constructor(
    private readonly m: ModuleContext,
    private readonly ledger: CreditLedger,
  ) {
    this.#db = m.db.tables<BillingTables>();
  }

  /** reserve holds `amount` of a wallet for `ttlSeconds` (409 `insufficient_credits` when the balance is short). */
  async reserve(ctx: ActionContext, input: z.infer<typeof ReserveCreditsInput>): Promise<CreditHold> {
    const { environmentId, tenantId } = await this.m.access.require(ctx, "billing:manage", {
      tenantId: input.tenantId,
      field: "body.tenantId",
    });
    return this.m.db.write(ctx, async (tx) => {
      const wallet = await this.ledger.lockWallet(tx, ctx, environmentId, tenantId as string, input.unit, false);
      const balance = wallet ? Number(wallet.balance) : 0;
      if (!wallet || balance < input.amount) {
        throw new AppError(
          BillingErrors.insufficient_credits,
          `Reserving ${input.amount} ${input.unit} needs more than the balance ${balance}.`,
        );
      }
      const now = await this.ledger.timeFor(environmentId, wallet.tenant_id, tx);
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
      const after = await this.ledger.take(tx, wallet, input.amount, "hold", row.id, row.reference, now);
      await this.m.facts.record(tx, ctx, {
        type: "credit_hold.reserved",
        environmentId,
        tenantId: wallet.tenant_id,
        targets: [
          { type: "credit_hold", id: row.id },
          { type: "credit_wallet", id: wallet.id },
        ],
        data: { unit: wallet.unit, amount: row.amount, expiresAt: iso(row.expires_at), balance: after.balance },
      });
      await this.ledger.settle(tx, ctx, wallet, balance, after.balance, now);
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

  /** #close commits or releases an open hold on its locked wallet (409 when it is no longer open). */
  async #close(
    ctx: ActionContext,
    found: HoldRow,
    status: "committed" | "released",
    committed: number,
  ): Promise<CreditHold> {
    return this.m.db.write(ctx, async (tx) => {
      const wallet = await this.ledger.walletById(tx, found.wallet_id);
      // Settling the wallet first expires this hold when its TTL passed.
      const locked = await this.ledger.lockWallet(tx, ctx, wallet.environment_id, wallet.tenant_id, wallet.unit, false);
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
      const now = await this.ledger.timeFor(locked.environment_id, locked.tenant_id, tx);
      return toCreditHold(await this.ledger.closeHold(tx, ctx, locked, hold, status, committed, now), wallet.unit);
    });
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

  async #authorizedHold(ctx: ActionContext, permission: string, id: string): Promise<HoldRow> {
    const notFound = () => new AppError(BillingErrors.credit_hold_not_found, `No credit hold ${id}.`);
    return this.ledger.authorized(ctx, permission, "billing_credit_hold", id, notFound) as Promise<HoldRow>;
  }
}
