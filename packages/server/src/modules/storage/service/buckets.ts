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
      return await this.m.db.write(ctx, async (tx) => {
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
      });
    } catch (err) {
      if (isUniqueViolation(err)) {
        throw new AppError(StorageErrors.bucket_name_taken, `A bucket named ${input.name} exists.`, {
          errors: [{ path: "body.name", message: "is taken" }],
        });
      }
      throw err;
    }
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
    return this.m.db.write(ctx, async (tx) => {
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
    });
  }

  /** deleteBucket removes an empty bucket (trashed files count until purged: 409 otherwise). */
  async deleteBucket(ctx: ActionContext, id: string): Promise<{ id: string; deleted: true }> {
    const { environmentId } = this.m.access.environment(ctx, "files:delete");
    return this.m.db.write(ctx, async (tx) => {
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
    });
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

function policy(b: Bucket) {
  return {
    allowedTypes: b.allowedTypes,
    maxFileBytes: b.maxFileBytes,
    public: b.public,
    retentionDays: b.retentionDays,
  };
}
