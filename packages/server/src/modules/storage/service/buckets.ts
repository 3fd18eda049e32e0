import type { Selectable } from "kysely";
import type { z } from "zod";
import { isUniqueViolation, type Tx, type TypedDb, toJson } from "../../../platform/db/db.js";
import { AppError } from "../../../platform/errors.js";
import { pageById } from "../../../platform/http/pagination.js";
import type { ModuleContext } from "../../../platform/module.js";
import type { ActionContext } from "../../../platform/principal.js";
import { StorageErrors } from "../errors.js";
import { newId } from "../ids.js";
import { toBucket } from "../internal/rows.js";
import type { Bucket, CreateBucketInput, ListBucketsQuery, UpdateBucketInput } from "../schemas.js";
import type { StorageBucketTable, StorageTables } from "../tables.js";

/**
 * BucketsService: an environment's buckets, which carry the policy of the files in them (allowed
 * types, largest file, public or private, retention). Environment configuration: secret keys.
 */
export class BucketsService {
  readonly #db: TypedDb<StorageTables>;

  constructor(private readonly m: ModuleContext) {
    this.#db = m.db.tables<StorageTables>();
  }

  async createBucket(ctx: ActionContext, input: z.infer<typeof CreateBucketInput>): Promise<Bucket> {
    const { environmentId } = this.m.access.environment(ctx, "files:write");
    try {
      return await this.m.db.write(ctx, (tx) => this.insertBucket(tx, ctx, environmentId, input));
    } catch (err) {
      if (isUniqueViolation(err)) {
        throw new AppError(StorageErrors.bucket_name_taken, `A bucket named ${input.name} exists.`, {
          errors: [{ path: "body.name", message: "is taken" }],
        });
      }
      throw err;
    }
  }

  /** insertBucket creates a bucket in `tx` with its fact (the caller checked `files:write`; a taken name violates the unique index). */
  async insertBucket(
    tx: Tx,
    ctx: ActionContext,
    environmentId: string,
    input: z.infer<typeof CreateBucketInput>,
  ): Promise<Bucket> {
    const now = this.m.clock.now();
    const row: StorageBucketTable = {
      id: newId("bucket", now),
      environment_id: environmentId,
      name: input.name,
      allowed_types: toJson(input.allowedTypes),
      max_file_bytes: input.maxFileBytes,
      public: this.m.db.bool(input.public),
      retention_days: input.retentionDays,
      created_at: now,
      updated_at: now,
    };
    await this.#db.q(tx).insertInto("storage_bucket").values(row).execute();
    const bucket = toBucket(row);
    await this.m.facts.record(tx, ctx, {
      type: "storage_bucket.created",
      environmentId,
      targets: [{ type: "storage_bucket", id: row.id }],
      data: {
        name: bucket.name,
        allowedTypes: bucket.allowedTypes,
        maxFileBytes: bucket.maxFileBytes,
        public: bucket.public,
      },
    });
    return bucket;
  }

  async listBuckets(ctx: ActionContext, query: z.infer<typeof ListBucketsQuery>) {
    const { environmentId } = this.m.access.environment(ctx, "files:read");
    const rows = this.#db.q().selectFrom("storage_bucket").selectAll().where("environment_id", "=", environmentId);
    return pageById(rows, query, toBucket);
  }

  async getBucket(ctx: ActionContext, id: string): Promise<Bucket> {
    const { environmentId } = this.m.access.environment(ctx, "files:read");
    return toBucket(await this.row(environmentId, id));
  }

  async updateBucket(ctx: ActionContext, id: string, input: z.infer<typeof UpdateBucketInput>): Promise<Bucket> {
    const { environmentId } = this.m.access.environment(ctx, "files:write");
    return this.m.db.write(ctx, (tx) => this.changeBucket(tx, ctx, environmentId, id, input));
  }

  /** changeBucket changes a bucket's policy in `tx` with its fact (fields left out keep their value; 404 for another environment's). */
  async changeBucket(
    tx: Tx,
    ctx: ActionContext,
    environmentId: string,
    id: string,
    input: z.infer<typeof UpdateBucketInput>,
  ): Promise<Bucket> {
    const row = await this.row(environmentId, id, tx);
    const before = toBucket(row);
    const next: StorageBucketTable = {
      ...row,
      allowed_types: toJson(input.allowedTypes ?? before.allowedTypes),
      max_file_bytes: input.maxFileBytes ?? before.maxFileBytes,
      public: this.m.db.bool(input.public ?? before.public),
      retention_days: input.retentionDays === undefined ? before.retentionDays : input.retentionDays,
      updated_at: this.m.clock.now(),
    };
    await this.#db.q(tx).updateTable("storage_bucket").set(next).where("id", "=", id).execute();
    const after = toBucket(next);
    await this.m.facts.record(tx, ctx, {
      type: "storage_bucket.updated",
      environmentId,
      targets: [{ type: "storage_bucket", id }],
      changes: { before: policy(before), after: policy(after) },
    });
    return after;
  }

  /** deleteBucket removes an empty bucket (trashed files count until purged: 409 otherwise). */
  async deleteBucket(ctx: ActionContext, id: string): Promise<{ id: string; deleted: true }> {
    const { environmentId } = this.m.access.environment(ctx, "files:delete");
    return this.m.db.write(ctx, (tx) => this.removeBucket(tx, ctx, environmentId, id));
  }

  /**
   * removeBucket deletes an empty bucket in `tx` with its fact (the caller checked `files:delete`).
   * Throws 404 `bucket_not_found`, and 409 `bucket_not_empty` while any file, trashed ones
   * included, is in it.
   */
  async removeBucket(
    tx: Tx,
    ctx: ActionContext,
    environmentId: string,
    id: string,
  ): Promise<{ id: string; deleted: true }> {
    const row = await this.row(environmentId, id, tx);
    const q = this.#db.q(tx);
    // Lock the bucket first: an upload's commit locks it too, so none lands in a deleted bucket.
    await q
      .selectFrom("storage_bucket")
      .select("id")
      .where("id", "=", id)
      .$call((qb) => this.m.db.forUpdate(qb))
      .execute();
    const held = await q
      .selectFrom("storage_file")
      .select("id")
      .where("bucket_id", "=", id)
      .limit(1)
      .executeTakeFirst();
    if (held) throw new AppError(StorageErrors.bucket_not_empty, `Bucket ${row.name} still holds files.`);
    await q.deleteFrom("storage_bucket").where("id", "=", id).execute();
    await this.m.facts.record(tx, ctx, {
      type: "storage_bucket.deleted",
      environmentId,
      targets: [{ type: "storage_bucket", id }],
      data: { name: row.name },
    });
    return { id, deleted: true as const };
  }

  /** liveBuckets lists the environment's buckets by name (read in `tx` when given). */
  async liveBuckets(environmentId: string, tx?: Tx): Promise<Bucket[]> {
    const rows = await this.#db
      .q(tx)
      .selectFrom("storage_bucket")
      .selectAll()
      .where("environment_id", "=", environmentId)
      .orderBy("name")
      .execute();
    return rows.map(toBucket);
  }

  /** bucketNamed loads the environment's bucket of that name (404 `bucket_not_found` otherwise). */
  async bucketNamed(environmentId: string, name: string, tx?: Tx): Promise<Bucket> {
    const row = await this.#db
      .q(tx)
      .selectFrom("storage_bucket")
      .selectAll()
      .where("environment_id", "=", environmentId)
      .where("name", "=", name)
      .executeTakeFirst();
    if (!row) throw new AppError(StorageErrors.bucket_not_found, `No bucket named ${name}.`);
    return toBucket(row);
  }

  /**
   * contents counts what a bucket holds: its files by status (with their bytes and, for active
   * ones, their sniffed types and upload times) and its open upload sessions, read in `tx` when given.
   */
  async contents(bucketId: string, tx?: Tx): Promise<BucketContents> {
    const q = this.#db.q(tx);
    const files = await q
      .selectFrom("storage_file")
      .select((eb) => [
        "status",
        "content_type",
        eb.fn.countAll<number | string>().as("n"),
        eb.fn.sum<number | string | null>("size").as("bytes"),
        eb.fn.min<number | string | null>("created_at").as("oldest"),
      ])
      .where("bucket_id", "=", bucketId)
      .groupBy(["status", "content_type"])
      .execute();
    const uploads = await q
      .selectFrom("storage_upload")
      .select((eb) => eb.fn.countAll<number | string>().as("n"))
      .where("bucket_id", "=", bucketId)
      .where("status", "=", "open")
      .executeTakeFirst();
    const out: BucketContents = {
      files: 0,
      bytes: 0,
      active: 0,
      activeBytes: 0,
      byType: {},
      openUploads: Number(uploads?.n ?? 0),
    };
    for (const r of files) {
      const n = Number(r.n);
      const bytes = Number(r.bytes ?? 0);
      out.files += n;
      out.bytes += bytes;
      if (r.status !== "active") continue;
      out.active += n;
      out.activeBytes += bytes;
      const type = r.content_type ?? "application/octet-stream";
      out.byType[type] = (out.byType[type] ?? 0) + n;
    }
    return out;
  }

  /** activeFilesWhere counts a bucket's active files larger than `largerThan` bytes or uploaded before `createdBefore`. */
  async activeFilesWhere(
    bucketId: string,
    where: { largerThan?: number; createdBefore?: number },
    tx?: Tx,
  ): Promise<number> {
    let q = this.#db
      .q(tx)
      .selectFrom("storage_file")
      .select((eb) => eb.fn.countAll<number | string>().as("n"))
      .where("bucket_id", "=", bucketId)
      .where("status", "=", "active");
    if (where.largerThan !== undefined) q = q.where("size", ">", where.largerThan);
    if (where.createdBefore !== undefined) q = q.where("created_at", "<=", where.createdBefore);
    return Number((await q.executeTakeFirst())?.n ?? 0);
  }

  /** row loads a bucket of the environment (404 otherwise). */
  async row(environmentId: string, id: string, tx?: Tx, field?: string): Promise<Selectable<StorageBucketTable>> {
    const row = await this.#db
      .q(tx)
      .selectFrom("storage_bucket")
      .selectAll()
      .where("environment_id", "=", environmentId)
      .where("id", "=", id)
      .executeTakeFirst();
    if (!row) {
      throw new AppError(StorageErrors.bucket_not_found, `No bucket ${id}.`, {
        ...(field ? { errors: [{ path: field, message: "names no bucket" }] } : {}),
      });
    }
    return row;
  }
}

/** BucketContents is what a bucket holds (`files` and `bytes` count every status: active, trashed, uploading). */
export interface BucketContents {
  files: number;
  bytes: number;
  active: number;
  activeBytes: number;
  /** byType counts the active files by sniffed media type. */
  byType: Record<string, number>;
  openUploads: number;
}

function policy(b: Bucket) {
  return {
    allowedTypes: b.allowedTypes,
    maxFileBytes: b.maxFileBytes,
    public: b.public,
    retentionDays: b.retentionDays,
  };
}
