import { sql } from "kysely";
import type { z } from "zod";
import type { Tx, TypedDb } from "../../../platform/db/db.js";
import type { ModuleContext } from "../../../platform/module.js";
import type { ActionContext } from "../../../platform/principal.js";
import type { QuotaInput, Usage } from "../schemas.js";
import type { StorageTables } from "../tables.js";

/** StoredBytesChange: what one committed write changed in a tenant's stored bytes and files. */
export interface StoredBytesChange {
  environmentId: string;
  tenantId: string | null;
  bytesDelta: number;
  filesDelta: number;
  /** bytes and files: the totals after the change. */
  bytes: number;
  files: number;
}

/**
 * StoredBytesListener runs inside the transaction that changes stored bytes (an upload, a purge):
 * a meter written there commits with the change or not at all (the usage module subscribes here).
 */
export type StoredBytesListener = (tx: Tx, change: StoredBytesChange) => Promise<void>;

const key = (tenantId: string | null) => tenantId ?? "";

/**
 * UsageService keeps one row per environment × tenant: bytes and files stored, and the quota.
 * Uploads reserve with one conditional update inside their transaction; the row count decides, so
 * racing uploads never overshoot a quota (PostgreSQL re-evaluates the condition on the locked row).
 */
export class UsageService {
  readonly #db: TypedDb<StorageTables>;
  readonly #listeners: StoredBytesListener[] = [];

  constructor(private readonly m: ModuleContext) {
    this.#db = m.db.tables<StorageTables>();
  }

  /** onChange subscribes to stored-bytes changes (called in the writing transaction). */
  onChange(listener: StoredBytesListener): void {
    this.#listeners.push(listener);
  }

  async #ensure(tx: Tx, environmentId: string, tenantId: string | null): Promise<void> {
    await this.#db
      .q(tx)
      .insertInto("storage_usage")
      .values({
        environment_id: environmentId,
        tenant_key: key(tenantId),
        bytes: 0,
        files: 0,
        max_bytes: null,
        max_files: null,
        updated_at: this.m.clock.now(),
      })
      .onConflict((oc) => oc.columns(["environment_id", "tenant_key"]).doNothing())
      .execute();
  }

  /**
   * reserve adds `bytes` and `files` to the tenant's usage if the quota allows them, in `tx`.
   * Returns false (nothing changed) when it would exceed the quota.
   */
  async reserve(tx: Tx, environmentId: string, tenantId: string | null, bytes: number, files: number) {
    await this.#ensure(tx, environmentId, tenantId);
    const row = await this.#db
      .q(tx)
      .updateTable("storage_usage")
      .set({
        bytes: sql<number>`bytes + ${bytes}`,
        files: sql<number>`files + ${files}`,
        updated_at: this.m.clock.now(),
      })
      .where("environment_id", "=", environmentId)
      .where("tenant_key", "=", key(tenantId))
      .where(sql<boolean>`(max_bytes is null or bytes + ${bytes} <= max_bytes)`)
      .where(sql<boolean>`(max_files is null or files + ${files} <= max_files)`)
      .returning(["bytes", "files"])
      .executeTakeFirst();
    if (!row) return false;
    await this.#notify(tx, { environmentId, tenantId, bytesDelta: bytes, filesDelta: files, ...totals(row) });
    return true;
  }

  /** release subtracts what a purged file held. */
  async release(tx: Tx, environmentId: string, tenantId: string | null, bytes: number, files: number) {
    await this.#ensure(tx, environmentId, tenantId);
    const row = await this.#db
      .q(tx)
      .updateTable("storage_usage")
      .set({
        bytes: sql<number>`bytes - ${bytes}`,
        files: sql<number>`files - ${files}`,
        updated_at: this.m.clock.now(),
      })
      .where("environment_id", "=", environmentId)
      .where("tenant_key", "=", key(tenantId))
      .returning(["bytes", "files"])
      .executeTakeFirstOrThrow();
    await this.#notify(tx, { environmentId, tenantId, bytesDelta: -bytes, filesDelta: -files, ...totals(row) });
  }

  async #notify(tx: Tx, change: StoredBytesChange): Promise<void> {
    for (const listener of this.#listeners) await listener(tx, change);
  }

  /** storedBytes reads a tenant's totals (null: environment-owned files): what a meter reports. */
  async storedBytes(environmentId: string, tenantId: string | null, tx?: Tx): Promise<Usage> {
    const row = await this.#db
      .q(tx)
      .selectFrom("storage_usage")
      .selectAll()
      .where("environment_id", "=", environmentId)
      .where("tenant_key", "=", key(tenantId))
      .executeTakeFirst();
    return {
      tenantId,
      bytes: Number(row?.bytes ?? 0),
      files: Number(row?.files ?? 0),
      maxBytes: row?.max_bytes == null ? null : Number(row.max_bytes),
      maxFiles: row?.max_files == null ? null : Number(row.max_files),
    };
  }

  /** getUsage: a tenant's stored bytes, files and quota. */
  async getUsage(ctx: ActionContext, tenantId: string): Promise<Usage> {
    const scope = await this.m.access.require(ctx, "files:read", { tenantId });
    return this.storedBytes(scope.environmentId, tenantId);
  }

  /** setQuota sets (or lifts, with null) a tenant's byte and file quotas. Files above it stay. */
  async setQuota(ctx: ActionContext, tenantId: string, input: z.infer<typeof QuotaInput>): Promise<Usage> {
    const scope = await this.m.access.require(ctx, "files:write", { tenantId });
    return this.m.db.write(ctx, async (tx) => {
      await this.#ensure(tx, scope.environmentId, tenantId);
      const before = await this.storedBytes(scope.environmentId, tenantId, tx);
      await this.#db
        .q(tx)
        .updateTable("storage_usage")
        .set({ max_bytes: input.maxBytes, max_files: input.maxFiles, updated_at: this.m.clock.now() })
        .where("environment_id", "=", scope.environmentId)
        .where("tenant_key", "=", key(tenantId))
        .execute();
      await this.m.facts.record(tx, ctx, {
        type: "storage_quota.updated",
        environmentId: scope.environmentId,
        tenantId,
        targets: [{ type: "tenant", id: tenantId }],
        changes: {
          before: { maxBytes: before.maxBytes, maxFiles: before.maxFiles },
          after: { maxBytes: input.maxBytes, maxFiles: input.maxFiles },
        },
      });
      return { ...before, maxBytes: input.maxBytes, maxFiles: input.maxFiles };
    });
  }
}

function totals(row: { bytes: unknown; files: unknown }) {
  return { bytes: Number(row.bytes), files: Number(row.files) };
}
