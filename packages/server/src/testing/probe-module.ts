import { z } from "zod";
import { generateToken, sha256Hex } from "../platform/crypto.js";
import { columnTypes } from "../platform/db/columns.js";
import { afterCommit } from "../platform/db/db.js";
import type { ModuleMigration } from "../platform/db/migrator.js";
import { AppError, defineErrors } from "../platform/errors.js";
import { decodeCursor, pageSchema, paginationQuery, toPage } from "../platform/http/pagination.js";
import { defineRoute } from "../platform/http/route.js";
import { defineIds } from "../platform/ids.js";
import { defineModule, type ModuleContext } from "../platform/module.js";
import type { ActionContext, Principal } from "../platform/principal.js";

/**
 * The probe module exists only for the test harness and the benchmark: a minimal module with one
 * table, routes through the whole write path, a job, a fact sink and a credential resolver. It is
 * never part of the shipped plane (`app.ts` does not list it).
 */

/** probeIds: the probe module's one ID kind (declared as its `ids`). */
export const probeIds = defineIds({ testItem: "tst" });
const { newId } = probeIds;

export const ProbeErrors = defineErrors({
  probe_item_not_found: { status: 404, title: "Probe item not found" },
  probe_refused: { status: 409, title: "The probe refused the request" },
});

interface ProbeTables {
  probe_item: { id: string; environment_id: string; name: string; created_at: number };
  probe_fact: { id: string; type: string; environment_id: string | null; actor_id: string | null; targets: string };
  probe_job_run: { id: string; job_id: string; worker_pid: number; ran_at: number };
}

const migration: ModuleMigration = {
  name: "202611260100_probe_tables",
  async up(db, engine) {
    const t = columnTypes(engine);
    await db.schema
      .createTable("probe_item")
      .addColumn("id", t.id, (c) => c.primaryKey())
      .addColumn("environment_id", t.id, (c) => c.notNull())
      .addColumn("name", t.text, (c) => c.notNull())
      .addColumn("created_at", t.timestamp, (c) => c.notNull())
      .execute();
    await db.schema.createIndex("probe_item_env_idx").on("probe_item").columns(["environment_id", "id"]).execute();
    await db.schema
      .createTable("probe_fact")
      .addColumn("id", t.id, (c) => c.primaryKey())
      .addColumn("type", t.text, (c) => c.notNull())
      .addColumn("environment_id", t.id)
      .addColumn("actor_id", t.text)
      .addColumn("targets", t.text, (c) => c.notNull())
      .execute();
    await db.schema
      .createTable("probe_job_run")
      .addColumn("id", t.id, (c) => c.primaryKey())
      .addColumn("job_id", t.id, (c) => c.notNull())
      .addColumn("worker_pid", "integer", (c) => c.notNull())
      .addColumn("ran_at", t.timestamp, (c) => c.notNull())
      .execute();
  },
  async down(db) {
    await db.schema.dropTable("probe_job_run").execute();
    await db.schema.dropTable("probe_fact").execute();
    await db.schema.dropTable("probe_item").execute();
  },
};

const Item = z.object({ id: z.string(), name: z.string(), createdAt: z.number().int() });
type Item = z.infer<typeof Item>;

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

  async recordJobRun(jobId: string): Promise<void> {
    await this.ctx.db
      .typed<ProbeTables>()
      .insertInto("probe_job_run")
      .values({ id: newId("testItem"), job_id: jobId, worker_pid: process.pid, ran_at: this.ctx.clock.now() })
      .execute();
  }
}

function requireEnvironment(ctx: ActionContext): string {
  const environmentId = ctx.principal?.environmentId;
  if (!environmentId) throw new Error("probe routes need an environment principal");
  return environmentId;
}

/** probeModuleWith builds the probe module; `jobDelayMs` makes its job slow (durability tests). */
export function probeModuleWith(options: { jobDelayMs?: number } = {}) {
  return defineModule({
    name: "probe",
    migrations: [migration],
    ids: probeIds.prefixes,
    createService: (ctx) => new ProbeService(ctx),
    credentialResolvers: (service) => [
      { kind: "probe", prefix: "bp_probe_", resolve: async (token) => service.resolve(token) },
    ],
    factSinks: () => [
      {
        name: "probe",
        sink: async (tx, fact) => {
          await tx
            .insertInto("probe_fact")
            .values({
              id: fact.id,
              type: fact.type,
              environment_id: fact.environmentId,
              actor_id: fact.actor?.actorId ?? null,
              targets: JSON.stringify(fact.targets),
            })
            .execute();
        },
      },
    ],
    jobs: (service) => [
      {
        name: "probe.record",
        maxAttempts: 5,
        handler: async (_payload, job) => {
          if (options.jobDelayMs) await new Promise((r) => setTimeout(r, options.jobDelayMs));
          await service.recordJobRun(job.jobId);
        },
      },
    ],
    routes: (service) => [
      defineRoute({
        method: "POST",
        url: "/v1/probe/items",
        operationId: "createProbeItem",
        summary: "Create a probe item",
        tags: ["Probe"],
        auth: { actorTypes: "any" },
        body: CreateItemInput,
        response: { status: 201, schema: Item, description: "The created item." },
        errors: [ProbeErrors.probe_refused],
        handler: ({ ctx, body }) => service.createItem(ctx, body),
      }),
      defineRoute({
        method: "GET",
        url: "/v1/probe/items/:itemId",
        operationId: "getProbeItem",
        summary: "Get a probe item",
        tags: ["Probe"],
        auth: { actorTypes: "any" },
        params: z.strictObject({ itemId: z.string().max(64) }),
        response: { status: 200, schema: Item, description: "The item." },
        errors: [ProbeErrors.probe_item_not_found],
        handler: ({ ctx, params }) => service.findItemById(ctx, params.itemId),
      }),
      defineRoute({
        method: "GET",
        url: "/v1/probe/slow",
        operationId: "probeSlow",
        summary: "Answer after a delay (graceful-shutdown tests)",
        tags: ["Probe"],
        auth: "none",
        query: z.strictObject({ ms: z.coerce.number().int().min(0).max(10_000) }),
        response: { status: 200, schema: z.object({ waitedMs: z.number() }), description: "Done waiting." },
        handler: async ({ query }) => {
          await new Promise((r) => setTimeout(r, query.ms));
          return { waitedMs: query.ms };
        },
      }),
      defineRoute({
        method: "GET",
        url: "/v1/probe/items",
        operationId: "listProbeItems",
        summary: "List probe items",
        tags: ["Probe"],
        auth: { actorTypes: "any" },
        query: paginationQuery.strict(),
        response: { status: 200, schema: pageSchema(Item), description: "A page of items." },
        handler: ({ ctx, query }) => service.listItems(ctx, query),
      }),
    ],
  });
}

/** probeModule is the probe module with default options. */
export const probeModule = probeModuleWith();
