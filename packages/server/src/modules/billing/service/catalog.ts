import type { Selectable } from "kysely";
import type { z } from "zod";
import { isUniqueViolation, type Tx, type TypedDb, toJson } from "../../../platform/db/db.js";
import { AppError } from "../../../platform/errors.js";
import { pageById } from "../../../platform/http/pagination.js";
import type { ModuleContext } from "../../../platform/module.js";
import type { ActionContext } from "../../../platform/principal.js";
import { UsageErrors, type UsageService } from "../../usage/index.js";
import { BillingErrors } from "../errors.js";
import { newId } from "../ids.js";
import { exponentOf } from "../internal/money.js";
import { toPlan, toPlanVersion } from "../internal/rows.js";
import type {
  Charge,
  CreatePlanInput,
  CreatePlanVersionInput,
  ListPlansQuery,
  Plan,
  PlanVersion,
  UpdatePlanInput,
} from "../schemas.js";
import type { BillingPlanTable, BillingPlanVersionTable, BillingTables } from "../tables.js";

type VersionInput = z.infer<typeof CreatePlanVersionInput>;

/** VERSION_CACHE_SIZE: how many plan versions `versionRow` keeps before it starts afresh. */
const VERSION_CACHE_SIZE = 1_000;

/**
 * CatalogService: the environment's plans. A plan's prices live in versions that never change:
 * a new price list is a new version, which new subscriptions get, while existing subscriptions
 * keep theirs. A plan's name and description can change; archiving stops new subscriptions.
 */
export class CatalogService {
  readonly #db: TypedDb<BillingTables>;
  /** #versions: plan versions read, by id. A version is never changed once written, so a read stays true. */
  readonly #versions = new Map<string, Selectable<BillingPlanVersionTable>>();

  constructor(
    private readonly m: ModuleContext,
    private readonly usage: UsageService,
  ) {
    this.#db = m.db.tables<BillingTables>();
  }

  async createPlan(ctx: ActionContext, input: z.infer<typeof CreatePlanInput>): Promise<Plan> {
    const { environmentId } = this.m.access.environment(ctx, "billing:manage");
    try {
      return await this.m.db.write(ctx, (tx) => this.insertPlan(tx, ctx, environmentId, input));
    } catch (err) {
      if (isUniqueViolation(err)) {
        throw new AppError(BillingErrors.plan_key_taken, `A plan with key ${input.key} exists in this environment.`);
      }
      throw err;
    }
  }

  /** insertPlan creates a plan with its version 1 in `tx` (the caller checked `billing:manage`). */
  async insertPlan(
    tx: Tx,
    ctx: ActionContext,
    environmentId: string,
    input: z.infer<typeof CreatePlanInput>,
  ): Promise<Plan> {
    const now = this.m.clock.now();
    const planId = newId("plan", now);
    const version = await this.#versionRow(tx, environmentId, planId, 1, input, now);
    const plan: BillingPlanTable = {
      id: planId,
      environment_id: environmentId,
      key: input.key,
      name: input.name,
      description: input.description,
      current_version_id: version.id,
      current_version: 1,
      archived_at: null,
      created_at: now,
      updated_at: now,
    };
    await this.#db.q(tx).insertInto("billing_plan").values(plan).execute();
    await this.#db.q(tx).insertInto("billing_plan_version").values(version).execute();
    await this.m.facts.record(tx, ctx, {
      type: "billing_plan.created",
      environmentId,
      targets: [
        { type: "billing_plan", id: planId },
        { type: "billing_plan_version", id: version.id },
      ],
      data: { key: plan.key, name: plan.name, version: 1, currency: version.currency, interval: version.interval },
    });
    return toPlan(plan, version);
  }

  async createVersion(ctx: ActionContext, idOrKey: string, input: VersionInput): Promise<PlanVersion> {
    const { environmentId } = this.m.access.environment(ctx, "billing:manage");
    return this.m.db.write(ctx, (tx) => this.insertVersion(tx, ctx, environmentId, idOrKey, input));
  }

  /**
   * insertVersion gives a plan a new price version in `tx`, which becomes its current one (the
   * caller checked `billing:manage`). Subscriptions keep the version they are on.
   */
  async insertVersion(
    tx: Tx,
    ctx: ActionContext,
    environmentId: string,
    idOrKey: string,
    input: VersionInput,
  ): Promise<PlanVersion> {
    // Locked: two new versions of one plan get consecutive numbers, never the same.
    const plan = await this.planRow(environmentId, idOrKey, tx, true);
    if (plan.archived_at !== null) throw new AppError(BillingErrors.plan_archived, `Plan ${plan.key} is archived.`);
    const now = this.m.clock.now();
    const next = Number(plan.current_version) + 1;
    const version = await this.#versionRow(tx, environmentId, plan.id, next, input, now);
    await this.#db.q(tx).insertInto("billing_plan_version").values(version).execute();
    await this.#db
      .q(tx)
      .updateTable("billing_plan")
      .set({ current_version_id: version.id, current_version: next, updated_at: now })
      .where("id", "=", plan.id)
      .execute();
    await this.m.facts.record(tx, ctx, {
      type: "billing_plan.version_created",
      environmentId,
      targets: [
        { type: "billing_plan", id: plan.id },
        { type: "billing_plan_version", id: version.id },
      ],
      data: { key: plan.key, version: next, currency: version.currency, interval: version.interval },
    });
    return toPlanVersion(version);
  }

  async listPlans(ctx: ActionContext, query: z.infer<typeof ListPlansQuery>) {
    const { environmentId } = this.m.access.environment(ctx, "billing:read");
    const rows = this.#db
      .q()
      .selectFrom("billing_plan")
      .selectAll()
      .where("environment_id", "=", environmentId)
      .$if(query.archived !== "true", (qb) => qb.where("archived_at", "is", null))
      .$if(query.archived === "true", (qb) => qb.where("archived_at", "is not", null));
    const page = await pageById(rows, query, (r) => r);
    const ids = page.data.map((r) => r.current_version_id);
    const versions =
      ids.length === 0
        ? []
        : await this.#db.q().selectFrom("billing_plan_version").selectAll().where("id", "in", ids).execute();
    const byId = new Map(versions.map((v) => [v.id, v]));
    return {
      data: page.data.map((r) => toPlan(r, byId.get(r.current_version_id) as Selectable<BillingPlanVersionTable>)),
      hasMore: page.hasMore,
      nextCursor: page.nextCursor,
    };
  }

  async findPlan(ctx: ActionContext, idOrKey: string): Promise<Plan> {
    const { environmentId } = this.m.access.environment(ctx, "billing:read");
    const plan = await this.planRow(environmentId, idOrKey);
    return toPlan(plan, await this.versionRow(environmentId, plan.current_version_id));
  }

  async listVersions(ctx: ActionContext, idOrKey: string): Promise<{ data: PlanVersion[] }> {
    const { environmentId } = this.m.access.environment(ctx, "billing:read");
    const plan = await this.planRow(environmentId, idOrKey);
    const rows = await this.#db
      .q()
      .selectFrom("billing_plan_version")
      .selectAll()
      .where("plan_id", "=", plan.id)
      .orderBy("version")
      .limit(1000)
      .execute();
    return { data: rows.map(toPlanVersion) };
  }

  async updatePlan(ctx: ActionContext, idOrKey: string, input: z.infer<typeof UpdatePlanInput>): Promise<Plan> {
    const { environmentId } = this.m.access.environment(ctx, "billing:manage");
    return this.m.db.write(ctx, (tx) => this.changePlan(tx, ctx, environmentId, idOrKey, input));
  }

  /** changePlan changes a plan's name and description in `tx` (the caller checked `billing:manage`). */
  async changePlan(
    tx: Tx,
    ctx: ActionContext,
    environmentId: string,
    idOrKey: string,
    input: z.infer<typeof UpdatePlanInput>,
  ): Promise<Plan> {
    const row = await this.planRow(environmentId, idOrKey, tx, true);
    const version = await this.versionRow(environmentId, row.current_version_id, tx);
    const changed = (["name", "description"] as const).filter((k) => input[k] !== undefined && input[k] !== row[k]);
    if (changed.length === 0) return toPlan(row, version);
    const now = this.m.clock.now();
    const next = { ...row, ...Object.fromEntries(changed.map((k) => [k, input[k]])), updated_at: now };
    await this.#db
      .q(tx)
      .updateTable("billing_plan")
      .set({ name: next.name, description: next.description, updated_at: now })
      .where("id", "=", row.id)
      .execute();
    await this.m.facts.record(tx, ctx, {
      type: "billing_plan.updated",
      environmentId,
      targets: [{ type: "billing_plan", id: row.id }],
      changes: {
        before: Object.fromEntries(changed.map((k) => [k, row[k]])),
        after: Object.fromEntries(changed.map((k) => [k, next[k]])),
      },
    });
    return toPlan(next, version);
  }

  async archivePlan(ctx: ActionContext, idOrKey: string): Promise<Plan> {
    const { environmentId } = this.m.access.environment(ctx, "billing:manage");
    return this.m.db.write(ctx, (tx) => this.archiveIn(tx, ctx, environmentId, idOrKey));
  }

  /** archiveIn archives a plan in `tx` (the caller checked `billing:manage`): no new subscription starts on it. */
  async archiveIn(tx: Tx, ctx: ActionContext, environmentId: string, idOrKey: string): Promise<Plan> {
    const row = await this.planRow(environmentId, idOrKey, tx, true);
    const version = await this.versionRow(environmentId, row.current_version_id, tx);
    if (row.archived_at !== null) return toPlan(row, version);
    const now = this.m.clock.now();
    await this.#db
      .q(tx)
      .updateTable("billing_plan")
      .set({ archived_at: now, updated_at: now })
      .where("id", "=", row.id)
      .execute();
    await this.m.facts.record(tx, ctx, {
      type: "billing_plan.archived",
      environmentId,
      targets: [{ type: "billing_plan", id: row.id }],
      data: { key: row.key },
    });
    return toPlan({ ...row, archived_at: now, updated_at: now }, version);
  }

  /**
   * livePlans lists the environment's plans that are not archived, each with its current version,
   * by key (read in `tx` when given, past the version cache: what `tx` wrote may not commit).
   */
  async livePlans(
    environmentId: string,
    tx?: Tx,
  ): Promise<Array<{ plan: Selectable<BillingPlanTable>; version: Selectable<BillingPlanVersionTable> }>> {
    const plans = await this.#db
      .q(tx)
      .selectFrom("billing_plan")
      .selectAll()
      .where("environment_id", "=", environmentId)
      .where("archived_at", "is", null)
      .orderBy("key")
      .execute();
    if (plans.length === 0) return [];
    const versions = await this.#db
      .q(tx)
      .selectFrom("billing_plan_version")
      .selectAll()
      .where("environment_id", "=", environmentId)
      .where(
        "id",
        "in",
        plans.map((p) => p.current_version_id),
      )
      .execute();
    const byId = new Map(versions.map((v) => [v.id, v]));
    return plans.map((plan) => ({
      plan,
      version: byId.get(plan.current_version_id) as Selectable<BillingPlanVersionTable>,
    }));
  }

  /** archivedKeyTaken tells whether an archived plan of the environment holds `key` (plan keys are never reused). */
  async archivedKeyTaken(environmentId: string, key: string, tx?: Tx): Promise<boolean> {
    const row = await this.#db
      .q(tx)
      .selectFrom("billing_plan")
      .select("id")
      .where("environment_id", "=", environmentId)
      .where("key", "=", key)
      .where("archived_at", "is not", null)
      .executeTakeFirst();
    return row !== undefined;
  }

  /**
   * priceProblem is why a price list would be refused in the environment (the error the API would
   * answer), or null. A charge's or limit's meter that does not exist is not a problem here but
   * listed in `missingMeters` (a manifest may declare it in the same apply, before the plan).
   */
  async priceProblem(
    environmentId: string,
    input: VersionInput,
    tx?: Tx,
  ): Promise<{ refused: AppError | null; missingMeters: string[] }> {
    const missingMeters: string[] = [];
    try {
      await this.#checkPrices(environmentId, input, tx, missingMeters);
      return { refused: null, missingMeters };
    } catch (err) {
      if (err instanceof AppError) return { refused: err, missingMeters };
      throw err;
    }
  }

  /** planRow reads a plan of the environment by id or key (locked for update when `lock`). 404 otherwise. */
  async planRow(environmentId: string, idOrKey: string, tx?: Tx, lock = false): Promise<Selectable<BillingPlanTable>> {
    const row = await this.#db
      .q(tx)
      .selectFrom("billing_plan")
      .selectAll()
      .where("environment_id", "=", environmentId)
      .where((eb) => eb.or([eb("id", "=", idOrKey), eb("key", "=", idOrKey)]))
      .$if(lock, (qb) => this.m.db.forUpdate(qb))
      .executeTakeFirst();
    if (!row) throw new AppError(BillingErrors.plan_not_found, `No plan ${idOrKey}.`);
    return row;
  }

  /**
   * versionRow reads a plan version of the environment. 404 otherwise. Versions are immutable, so
   * one read is kept (up to VERSION_CACHE_SIZE versions) and later calls need no statement.
   */
  async versionRow(environmentId: string, id: string, tx?: Tx): Promise<Selectable<BillingPlanVersionTable>> {
    const cached = this.#versions.get(id);
    if (cached && cached.environment_id === environmentId) return cached;
    const row = await this.#db
      .q(tx)
      .selectFrom("billing_plan_version")
      .selectAll()
      .where("environment_id", "=", environmentId)
      .where("id", "=", id)
      .executeTakeFirst();
    if (!row) throw new AppError(BillingErrors.plan_version_not_found, `No plan version ${id}.`);
    if (this.#versions.size >= VERSION_CACHE_SIZE) this.#versions.clear();
    this.#versions.set(id, row);
    return row;
  }

  /**
   * #versionRow checks a price list against the environment (meters exist and can be billed or
   * limited; fixed amounts fit the currency's minor unit) and returns the row to insert.
   */
  async #versionRow(
    tx: Tx,
    environmentId: string,
    planId: string,
    version: number,
    input: VersionInput,
    now: number,
  ): Promise<BillingPlanVersionTable> {
    const charges = await this.#checkPrices(environmentId, input, tx);
    return {
      id: newId("planVersion", now),
      environment_id: environmentId,
      plan_id: planId,
      version,
      interval: input.interval,
      currency: input.currency,
      trial_days: input.trialDays,
      fixed_fee: input.fixedFee,
      charges: toJson(charges),
      entitlements: toJson(input.entitlements),
      credits: toJson(input.credits),
      created_at: now,
    };
  }

  /**
   * #checkPrices checks a price list against the environment and returns its charges with their
   * meters resolved. A meter that does not exist is refused (404), or, when `missing` is given,
   * its key or id is added to it and its charge or limit left out.
   */
  async #checkPrices(environmentId: string, input: VersionInput, tx?: Tx, missing?: string[]): Promise<Charge[]> {
    const places = exponentOf(input.currency);
    const fits = (price: string) => (price.split(".")[1] ?? "").length <= places;
    const invalid = (path: string) =>
      new AppError(BillingErrors.invalid_price, `${path}: at most ${places} decimal places in ${input.currency}.`, {
        errors: [{ path, message: `must have at most ${places} decimal places in ${input.currency}` }],
      });
    const meterOf = async (idOrKey: string) => {
      try {
        return await this.usage.meters.row(environmentId, idOrKey, tx);
      } catch (err) {
        if (missing === undefined || !(err instanceof AppError) || err.code !== UsageErrors.meter_not_found.code) {
          throw err;
        }
        missing.push(idOrKey);
        return null;
      }
    };
    if (!fits(input.fixedFee)) throw invalid("body.fixedFee");
    const charges: Charge[] = [];
    for (const [i, c] of input.charges.entries()) {
      if (c.minimum !== undefined && !fits(c.minimum)) throw invalid(`body.charges.${i}.minimum`);
      const meter = await meterOf(c.meter);
      if (meter === null) continue;
      if (meter.aggregation !== "sum" && meter.aggregation !== "count") {
        throw new AppError(
          BillingErrors.meter_not_billable,
          `Meter ${meter.key} is a ${meter.aggregation} meter: charges count \`sum\` and \`count\` meters.`,
          { errors: [{ path: `body.charges.${i}.meter`, message: "must be a `sum` or `count` meter" }] },
        );
      }
      charges.push({ ...c, meter: meter.key, meterId: meter.id });
    }
    for (const [i, e] of input.entitlements.entries()) {
      if (e.meter === undefined) continue;
      const meter = await meterOf(e.meter);
      if (meter === null) continue;
      if (meter.aggregation !== "sum" && meter.aggregation !== "count") {
        throw new AppError(UsageErrors.meter_not_limitable, `Meter ${meter.key} is a ${meter.aggregation} meter.`, {
          errors: [{ path: `body.entitlements.${i}.meter`, message: "must be a `sum` or `count` meter" }],
        });
      }
    }
    return charges;
  }
}
