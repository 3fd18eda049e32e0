import { z } from "zod";
import { generateToken, sha256Hex } from "../../platform/crypto.js";
import { afterCommit } from "../../platform/db/db.js";
import { AppError } from "../../platform/errors.js";
import { decodeCursor, toPage } from "../../platform/http/pagination.js";
import type { JobContext } from "../../platform/jobs/index.js";
import type { ModuleContext } from "../../platform/module.js";
import type { ActionContext, Principal } from "../../platform/principal.js";
import { ProbeErrors } from "./errors.js";
import { newId } from "./ids.js";
import type { ProbeTables } from "./tables.js";

export const Item = z.object({ id: z.string(), name: z.string(), createdAt: z.number().int() });
export type Item = z.infer<typeof Item>;

export const CreateItemInput = z.strictObject({
  name: z.string().min(1).max(200),
  tags: z.array(z.string().max(50)).max(10).optional(),
});

export class ProbeService {
  readonly #tokens = new Map<string, Principal>();
  /** afterCommitRuns counts after-commit callbacks that ran (tests). */
  afterCommitRuns = 0;

  constructor(private readonly ctx: ModuleContext) {}

  /** issueToken mints a probe credential for `principal` (held in memory, by hash). */
  issueToken(principal: Principal): string {
    const token = generateToken("bp_probe_");
    this.#tokens.set(sha256Hex(token), principal);
    return token;
  }

  revokeToken(token: string): void {
    this.#tokens.delete(sha256Hex(token));
  }

  resolve(token: string): Principal | null {
    return this.#tokens.get(sha256Hex(token)) ?? null;
  }

  async createItem(ctx: ActionContext, input: z.infer<typeof CreateItemInput>): Promise<Item> {
    const environmentId = requireEnvironment(ctx);
    if (input.name === "refuse") throw new AppError(ProbeErrors.probe_refused, "The probe refuses items named refuse.");
    return this.ctx.db.write(ctx, async (tx) => {
      const now = this.ctx.clock.now();
      const item = { id: newId("testItem", now), name: input.name, createdAt: now };
      await tx
        .insertInto("probe_item")
        .values({ id: item.id, environment_id: environmentId, name: item.name, created_at: now })
        .execute();
      await this.ctx.facts.record(tx, ctx, {
        type: "probe_item.created",
        targets: [{ type: "probe_item", id: item.id }],
        data: { name: item.name },
      });
      if (input.name === "explode-after-write") throw new Error("probe exploded after writing");
      await this.ctx.jobs.enqueue(tx, "probe.record", { itemId: item.id }, { environmentId });
      afterCommit(tx, () => {
        this.afterCommitRuns++;
      });
      return item;
    });
  }

  async findItemById(ctx: ActionContext, id: string): Promise<Item> {
    const environmentId = requireEnvironment(ctx);
    const row = await this.ctx.db
      .typed<ProbeTables>()
      .selectFrom("probe_item")
      .selectAll()
      .where("environment_id", "=", environmentId)
      .where("id", "=", id)
      .executeTakeFirst();
    if (!row) throw new AppError(ProbeErrors.probe_item_not_found, `No probe item ${id}.`);
    return { id: row.id, name: row.name, createdAt: row.created_at };
  }

  async listItems(ctx: ActionContext, query: { limit: number; cursor?: string | undefined }) {
    const environmentId = requireEnvironment(ctx);
    const after = query.cursor ? decodeCursor(query.cursor, z.object({ id: z.string() })).id : null;
    const rows = await this.ctx.db
      .typed<ProbeTables>()
      .selectFrom("probe_item")
      .selectAll()
      .where("environment_id", "=", environmentId)
      .$if(after !== null, (qb) => qb.where("id", ">", after as string))
      .orderBy("id")
      .limit(query.limit + 1)
      .execute();
    return toPage(
      rows,
      query.limit,
      (r) => ({ id: r.id }),
      (r) => ({ id: r.id, name: r.name, createdAt: r.created_at }),
    );
  }

  /** recordJobRun is the probe job's work: one row, committed together with the job's completion. */
  async recordJobRun(job: JobContext): Promise<void> {
    await this.ctx.db.transaction(async (tx) => {
      await tx
        .insertInto("probe_job_run")
        .values({ id: newId("testItem"), job_id: job.jobId, worker_pid: process.pid, ran_at: this.ctx.clock.now() })
        .execute();
      await job.complete(tx);
    });
  }
}

function requireEnvironment(ctx: ActionContext): string {
  const environmentId = ctx.principal?.environmentId;
  if (!environmentId) throw new Error("probe routes need an environment principal");
  return environmentId;
}
