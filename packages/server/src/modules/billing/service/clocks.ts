import type { Selectable } from "kysely";
import type { z } from "zod";
import type { Tx, TypedDb } from "../../../platform/db/db.js";
import { AppError } from "../../../platform/errors.js";
import { pageById } from "../../../platform/http/pagination.js";
import { iso } from "../../../platform/http/schemas.js";
import type { ModuleContext } from "../../../platform/module.js";
import { type ActionContext, systemContext } from "../../../platform/principal.js";
import type { TenancyService } from "../../tenancy/index.js";
import { BillingErrors } from "../errors.js";
import { newId } from "../ids.js";
import type {
  AdvanceTestClockInput,
  AttachTestClockInput,
  CreateTestClockInput,
  ListTestClocksQuery,
  TestClock,
} from "../schemas.js";
import type { BillingTables, BillingTestClockTable } from "../tables.js";

/** CLOCK_JOB: runs the steps a test clock's advance made due, at the clock's time. */
export const CLOCK_JOB = "billing.advance_test_clock";

/** MAX_ADVANCE_MS: one advance moves a clock at most two years (a yearly plan's two periods). */
export const MAX_ADVANCE_MS = 2 * 366 * 86_400_000;

/** ClockTime is the time of one test clock: `now` for its tenants while its steps run. */
export interface ClockTime {
  environmentId: string;
  clockId: string;
  now: number;
}

/**
 * ClockStep is a time-driven part of billing (ending periods, dunning, credit expiry) run for the
 * tenants of one test clock at its time. It returns how much it did (0 when nothing was due), and
 * runs again until every step returns 0: one step's work can make another's due.
 */
export type ClockStep = (clock: ClockTime) => Promise<number>;

type ClockRow = Selectable<BillingTestClockTable>;

function toTestClock(row: ClockRow, tenants: number): TestClock {
  return {
    id: row.id,
    name: row.name,
    frozenTime: iso(row.frozen_time),
    status: row.status,
    tenants,
    createdAt: iso(row.created_at),
    updatedAt: iso(row.updated_at),
  };
}

/**
 * TestClocksService: simulated time for billing in non-production environments. A tenant attached
 * to a clock lives at the clock's frozen time: its subscriptions start, renew, end trials, invoice
 * and (through the other steps registered in `steps`) go past due and expire credits as if that
 * time had come. Advancing a clock queues `billing.advance_test_clock`, the durable job that runs
 * the same code the real-time jobs run, at the clock's time; the clock is `advancing` until it is done.
 *
 * `nowFor` is the one place billing asks what time it is for a tenant.
 */
export class TestClocksService {
  readonly #db: TypedDb<BillingTables>;
  /** steps are run, in order and repeatedly until none has work, when a clock advances. */
  readonly steps: ClockStep[] = [];

  constructor(
    private readonly m: ModuleContext,
    private readonly tenancy: TenancyService,
  ) {
    this.#db = m.db.tables<BillingTables>();
  }

  /** nowFor answers the time a tenant's billing runs at: its test clock's, or the plane's. */
  async nowFor(environmentId: string, tenantId: string, tx?: Tx): Promise<number> {
    const clock = await this.clockOfTenant(environmentId, tenantId, tx);
    return clock === null ? this.m.clock.now() : Number(clock.frozen_time);
  }

  /** timeOf answers a clock's time (the plane's for null: a subscription on no clock). */
  async timeOf(clockId: string | null, tx?: Tx): Promise<number> {
    if (clockId === null) return this.m.clock.now();
    const row = await this.#db
      .q(tx)
      .selectFrom("billing_test_clock")
      .select("frozen_time")
      .where("id", "=", clockId)
      .executeTakeFirst();
    // A deleted clock's ended subscriptions fall back to the plane's time.
    return row ? Number(row.frozen_time) : this.m.clock.now();
  }

  /** clockOfTenant answers the test clock a tenant lives on, or null. */
  async clockOfTenant(environmentId: string, tenantId: string, tx?: Tx): Promise<ClockRow | null> {
    const row = await this.#db
      .q(tx)
      .selectFrom("billing_test_clock_tenant as a")
      .innerJoin("billing_test_clock as c", "c.id", "a.test_clock_id")
      .selectAll("c")
      .where("a.environment_id", "=", environmentId)
      .where("a.tenant_id", "=", tenantId)
      .executeTakeFirst();
    return row ?? null;
  }

  async createClock(ctx: ActionContext, input: z.infer<typeof CreateTestClockInput>): Promise<TestClock> {
    const { environmentId } = this.m.access.environment(ctx, "billing:manage");
    await this.#refuseProduction(environmentId);
    return this.m.db.write(ctx, async (tx) => {
      const now = this.m.clock.now();
      const row: BillingTestClockTable = {
        id: newId("testClock", now),
        environment_id: environmentId,
        name: input.name,
        frozen_time: input.frozenTime ?? now,
        status: "ready",
        created_at: now,
        updated_at: now,
      };
      await this.#db.q(tx).insertInto("billing_test_clock").values(row).execute();
      await this.m.facts.record(tx, ctx, {
        type: "test_clock.created",
        environmentId,
        targets: [{ type: "test_clock", id: row.id }],
        data: { name: row.name, frozenTime: iso(row.frozen_time) },
      });
      return toTestClock(row, 0);
    });
  }

  async listClocks(ctx: ActionContext, query: z.infer<typeof ListTestClocksQuery>) {
    const { environmentId } = this.m.access.environment(ctx, "billing:read");
    const rows = this.#db.q().selectFrom("billing_test_clock").selectAll().where("environment_id", "=", environmentId);
    const page = await pageById(rows, query, (r) => r, { descending: true });
    const counts = await this.#tenantCounts(page.data.map((r) => r.id));
    return { ...page, data: page.data.map((r) => toTestClock(r, counts.get(r.id) ?? 0)) };
  }

  async findClock(ctx: ActionContext, id: string): Promise<TestClock> {
    const { environmentId } = this.m.access.environment(ctx, "billing:read");
    const row = await this.#row(environmentId, id);
    return toTestClock(row, (await this.#tenantCounts([row.id])).get(row.id) ?? 0);
  }

  /**
   * deleteClock removes a clock whose tenants have no live subscription on it (cancel those first);
   * its tenants are taken off it and live on the plane's time again.
   */
  async deleteClock(ctx: ActionContext, id: string): Promise<TestClock> {
    const { environmentId } = this.m.access.environment(ctx, "billing:manage");
    return this.m.db.write(ctx, async (tx) => {
      const row = await this.#row(environmentId, id, tx, true);
      const live = await this.#db
        .q(tx)
        .selectFrom("billing_subscription")
        .select("id")
        .where("test_clock_id", "=", row.id)
        .where("live_tenant_id", "is not", null)
        .execute();
      if (live.length > 0) {
        throw new AppError(
          BillingErrors.test_clock_in_use,
          `Test clock ${id} has ${live.length} live subscription(s): cancel them first.`,
        );
      }
      await this.#db.q(tx).deleteFrom("billing_test_clock_tenant").where("test_clock_id", "=", row.id).execute();
      await this.#db.q(tx).deleteFrom("billing_test_clock").where("id", "=", row.id).execute();
      await this.m.facts.record(tx, ctx, {
        type: "test_clock.deleted",
        environmentId,
        targets: [{ type: "test_clock", id: row.id }],
        data: { name: row.name },
      });
      return toTestClock(row, 0);
    });
  }

  /**
   * attachTenant puts a tenant on the clock. Only a tenant with no live subscription may move to a
   * clock (a subscription's time is fixed for its life: it runs on the clock its tenant had when it
   * started), and a tenant is on one clock at most.
   */
  async attachTenant(ctx: ActionContext, id: string, input: z.infer<typeof AttachTestClockInput>): Promise<TestClock> {
    const { environmentId } = this.m.access.environment(ctx, "billing:manage");
    await this.m.access.require(ctx, "billing:manage", { tenantId: input.tenantId, field: "body.tenantId" });
    return this.m.db.write(ctx, async (tx) => {
      const row = await this.#row(environmentId, id, tx, true);
      const current = await this.clockOfTenant(environmentId, input.tenantId, tx);
      if (current !== null) {
        if (current.id === row.id) return toTestClock(row, (await this.#tenantCounts([row.id], tx)).get(row.id) ?? 0);
        throw new AppError(
          BillingErrors.tenant_on_test_clock,
          `Tenant ${input.tenantId} is on test clock ${current.id}.`,
        );
      }
      await this.#refuseLive(tx, environmentId, input.tenantId);
      await this.#db
        .q(tx)
        .insertInto("billing_test_clock_tenant")
        .values({
          environment_id: environmentId,
          tenant_id: input.tenantId,
          test_clock_id: row.id,
          attached_at: this.m.clock.now(),
        })
        .execute();
      await this.m.facts.record(tx, ctx, {
        type: "test_clock.tenant_attached",
        environmentId,
        tenantId: input.tenantId,
        targets: [{ type: "test_clock", id: row.id }],
        data: { testClockId: row.id, frozenTime: iso(row.frozen_time) },
      });
      return toTestClock(row, (await this.#tenantCounts([row.id], tx)).get(row.id) ?? 0);
    });
  }

  /**
   * detachTenant takes a tenant off the clock; it must have no live subscription on it. A tenant on
   * no clock is left as it is (detaching is idempotent); one on another clock answers 404.
   */
  async detachTenant(ctx: ActionContext, id: string, tenantId: string): Promise<TestClock> {
    const { environmentId } = this.m.access.environment(ctx, "billing:manage");
    return this.m.db.write(ctx, async (tx) => {
      const row = await this.#row(environmentId, id, tx, true);
      const current = await this.clockOfTenant(environmentId, tenantId, tx);
      if (current === null) return toTestClock(row, (await this.#tenantCounts([row.id], tx)).get(row.id) ?? 0);
      if (current.id !== row.id) {
        throw new AppError(BillingErrors.tenant_not_on_test_clock, `Tenant ${tenantId} is not on test clock ${id}.`);
      }
      await this.#refuseLive(tx, environmentId, tenantId);
      await this.#db
        .q(tx)
        .deleteFrom("billing_test_clock_tenant")
        .where("environment_id", "=", environmentId)
        .where("tenant_id", "=", tenantId)
        .execute();
      await this.m.facts.record(tx, ctx, {
        type: "test_clock.tenant_detached",
        environmentId,
        tenantId,
        targets: [{ type: "test_clock", id: row.id }],
        data: { testClockId: row.id },
      });
      return toTestClock(row, (await this.#tenantCounts([row.id], tx)).get(row.id) ?? 0);
    });
  }

  /**
   * advanceClock moves the clock forward to `frozenTime` (never back; at most two years at once)
   * and queues the job that runs what became due, in the same transaction: the clock is
   * `advancing` until that job has run every step at the new time.
   */
  async advanceClock(ctx: ActionContext, id: string, input: z.infer<typeof AdvanceTestClockInput>): Promise<TestClock> {
    const { environmentId } = this.m.access.environment(ctx, "billing:manage");
    return this.m.db.write(ctx, async (tx) => {
      const row = await this.#row(environmentId, id, tx, true);
      const from = Number(row.frozen_time);
      if (input.frozenTime <= from) {
        throw new AppError(
          BillingErrors.test_clock_backwards,
          `A test clock only moves forward: frozenTime must be after ${new Date(from).toISOString()}.`,
        );
      }
      if (input.frozenTime - from > MAX_ADVANCE_MS) {
        throw new AppError(
          BillingErrors.test_clock_backwards,
          "A test clock moves at most two years at once: advance it in steps.",
        );
      }
      const now = this.m.clock.now();
      const changes = { frozen_time: input.frozenTime, status: "advancing" as const, updated_at: now };
      await this.#db.q(tx).updateTable("billing_test_clock").set(changes).where("id", "=", row.id).execute();
      await this.m.jobs.enqueue(tx, CLOCK_JOB, { environmentId, testClockId: row.id });
      await this.m.facts.record(tx, ctx, {
        type: "test_clock.advanced",
        environmentId,
        targets: [{ type: "test_clock", id: row.id }],
        data: { from: iso(from), to: iso(input.frozenTime) },
      });
      return toTestClock({ ...row, ...changes }, (await this.#tenantCounts([row.id], tx)).get(row.id) ?? 0);
    });
  }

  /**
   * runClock is the job: it runs every step at the clock's time until none has work left, then
   * marks the clock `ready` — unless it was advanced again meanwhile (that advance queued its own run).
   */
  async runClock(payload: { environmentId: string; testClockId: string }): Promise<void> {
    const row = await this.#db
      .q()
      .selectFrom("billing_test_clock")
      .selectAll()
      .where("id", "=", payload.testClockId)
      .where("environment_id", "=", payload.environmentId)
      .executeTakeFirst();
    if (!row) return;
    const clock: ClockTime = { environmentId: row.environment_id, clockId: row.id, now: Number(row.frozen_time) };
    for (let round = 0; round < 1000; round++) {
      let work = 0;
      for (const step of this.steps) work += await step(clock);
      if (work === 0) break;
    }
    const ctx = systemContext(newId("request"), "billing");
    await this.m.db.write(ctx, async (tx) => {
      const r = await this.#db
        .q(tx)
        .updateTable("billing_test_clock")
        .set({ status: "ready", updated_at: this.m.clock.now() })
        .where("id", "=", row.id)
        .where("frozen_time", "=", row.frozen_time)
        .where("status", "=", "advancing")
        .executeTakeFirst();
      if (Number(r.numUpdatedRows) !== 1) return;
      await this.m.facts.record(tx, ctx, {
        type: "test_clock.ready",
        environmentId: row.environment_id,
        targets: [{ type: "test_clock", id: row.id }],
        data: { frozenTime: iso(row.frozen_time) },
      });
    });
  }

  async #refuseProduction(environmentId: string) {
    if (await this.tenancy.projects.isProduction(environmentId)) {
      throw new AppError(
        BillingErrors.test_clocks_not_in_production,
        "Test clocks are for non-production environments.",
      );
    }
  }

  async #refuseLive(tx: Tx, environmentId: string, tenantId: string) {
    const live = await this.#db
      .q(tx)
      .selectFrom("billing_subscription")
      .select("id")
      .where("environment_id", "=", environmentId)
      .where("live_tenant_id", "=", tenantId)
      .executeTakeFirst();
    if (live) {
      throw new AppError(
        BillingErrors.tenant_on_test_clock,
        `Tenant ${tenantId} has a live subscription (${live.id}): a tenant changes clocks between subscriptions.`,
      );
    }
  }

  async #row(environmentId: string, id: string, tx?: Tx, lock = false): Promise<ClockRow> {
    const row = await this.#db
      .q(tx)
      .selectFrom("billing_test_clock")
      .selectAll()
      .where("environment_id", "=", environmentId)
      .where("id", "=", id)
      .$if(lock, (qb) => qb.$call((q) => this.m.db.forUpdate(q)))
      .executeTakeFirst();
    if (!row) throw new AppError(BillingErrors.test_clock_not_found, `No test clock ${id}.`);
    return row;
  }

  async #tenantCounts(ids: string[], tx?: Tx): Promise<Map<string, number>> {
    if (ids.length === 0) return new Map();
    const rows = await this.#db
      .q(tx)
      .selectFrom("billing_test_clock_tenant")
      .select(["test_clock_id", (eb) => eb.fn.countAll<number>().as("n")])
      .where("test_clock_id", "in", ids)
      .groupBy("test_clock_id")
      .execute();
    return new Map(rows.map((r) => [r.test_clock_id, Number(r.n)]));
  }
}
