import { sql } from "kysely";
import type { Tx, TypedDb } from "../../../platform/db/db.js";
import type { Fact } from "../../../platform/facts/index.js";
import { iso } from "../../../platform/http/schemas.js";
import type { ModuleContext } from "../../../platform/module.js";
import { systemContext } from "../../../platform/principal.js";
import { newId } from "../ids.js";
import type { BlobStore } from "../internal/blob-store.js";
import type { StorageTables } from "../tables.js";
import type { UploadsService } from "./uploads.js";
import type { UsageService } from "./usage.js";

export const PURGE_JOB = "storage.purge";
export const PURGE_TENANT_JOB = "storage.purge_tenant";
export const SYNC_TENANT_JOB = "storage.sync_tenant";

/** TenantStateOf answers a tenant's lifecycle state (the tenancy module's cached answer). */
export type TenantStateOf = (environmentId: string, tenantId: string) => Promise<{ status: string } | null>;
const BATCH = 200;

/** PurgeReport: what one purge run did. */
export interface PurgeReport {
  expired: number;
  purged: number;
  orphans: number;
  /** sessions: expired upload sessions deleted with their bytes. */
  sessions: number;
  swept: number;
}

/**
 * LifecycleService runs the purge job: files past their bucket's retention go to the trash,
 * trashed files past their purge time lose their bytes and rows, and orphans (an `uploading` row
 * older than the upload timeout: the process died between the blob write and the metadata
 * commit) are collected with what the store kept of them. Bytes are deleted before rows, so a
 * crash in between leaves a row the next run finds again. A deactivated tenant's files are purged.
 */
export class LifecycleService {
  readonly #db: TypedDb<StorageTables>;

  constructor(
    private readonly m: ModuleContext,
    private readonly store: BlobStore,
    private readonly usage: UsageService,
    private readonly uploads: UploadsService,
  ) {
    this.#db = m.db.tables<StorageTables>();
  }

  #ctx() {
    return systemContext(newId("request"), "storage");
  }

  async purge(): Promise<PurgeReport> {
    const report: PurgeReport = { expired: 0, purged: 0, orphans: 0, sessions: 0, swept: 0 };
    report.expired = await this.#expire();
    report.purged = await this.#purgeDue(null);
    report.orphans = await this.#collectOrphans();
    report.sessions = await this.uploads.purgeExpired();
    report.swept = await this.store.sweep(this.m.clock.now() - this.m.config.storage.uploadTimeoutMs, (handle) =>
      this.uploads.holdsHandle(handle),
    );
    return report;
  }

  /** #expire moves files past their bucket's retention to the trash. */
  async #expire(): Promise<number> {
    let total = 0;
    for (;;) {
      const now = this.m.clock.now();
      const rows = await this.#db
        .q()
        .selectFrom("storage_file")
        .innerJoin("storage_bucket", "storage_bucket.id", "storage_file.bucket_id")
        .select(["storage_file.id", "storage_file.environment_id", "storage_file.tenant_id"])
        .where("storage_file.status", "=", "active")
        .where("storage_bucket.retention_days", "is not", null)
        .where(sql<boolean>`storage_file.created_at + storage_bucket.retention_days * 86400000 <= ${now}`)
        .limit(BATCH)
        .execute();
      for (const row of rows) if (await this.#trash(row, "retention")) total++;
      if (rows.length < BATCH) return total;
    }
  }

  async #trash(
    row: { id: string; environment_id: string; tenant_id: string | null },
    reason: string,
    purgeNow = false,
  ) {
    const ctx = this.#ctx();
    return this.m.db.write(ctx, async (tx) => {
      const now = this.m.clock.now();
      const purgeAt = purgeNow ? now : now + this.m.config.storage.trashMs;
      const moved = await this.#db
        .q(tx)
        .updateTable("storage_file")
        .set({ status: "deleted", deleted_at: now, deleted_reason: reason, purge_at: purgeAt, updated_at: now })
        .where("id", "=", row.id)
        .where("status", "=", "active")
        .executeTakeFirst();
      if (Number(moved.numUpdatedRows) !== 1) return false;
      await this.m.facts.record(tx, ctx, {
        type: "file.deleted",
        environmentId: row.environment_id,
        tenantId: row.tenant_id,
        targets: [{ type: "file", id: row.id }],
        data: { reason, purgeAt: iso(purgeAt) },
      });
      return true;
    });
  }

  /** #purgeDue deletes trashed files whose purge time has come (of one tenant, or all). */
  async #purgeDue(scope: { environmentId: string; tenantId: string } | null): Promise<number> {
    let total = 0;
    let after = "";
    for (;;) {
      const rows = await this.#db
        .q()
        .selectFrom("storage_file")
        .select(["id", "environment_id", "tenant_id", "blob_key", "size"])
        .where("status", "=", "deleted")
        .where("purge_at", "<=", this.m.clock.now())
        .where("id", ">", after)
        .$if(scope !== null, (qb) =>
          qb
            .where("environment_id", "=", scope?.environmentId as string)
            .where("tenant_id", "=", scope?.tenantId as string),
        )
        .orderBy("id")
        .limit(BATCH)
        .execute();
      for (const row of rows) {
        after = row.id;
        await this.store.delete(row.blob_key);
        const ctx = this.#ctx();
        const purged = await this.m.db.write(ctx, async (tx) => {
          const gone = await this.#db
            .q(tx)
            .deleteFrom("storage_file")
            .where("id", "=", row.id)
            .where("status", "=", "deleted")
            .executeTakeFirst();
          if (Number(gone.numDeletedRows) !== 1) return false;
          await this.usage.release(tx, row.environment_id, row.tenant_id, Number(row.size), 1);
          await this.m.facts.record(tx, ctx, {
            type: "file.purged",
            environmentId: row.environment_id,
            tenantId: row.tenant_id,
            targets: [{ type: "file", id: row.id }],
            data: { size: Number(row.size) },
          });
          return true;
        });
        if (purged) total++;
      }
      if (rows.length < BATCH) return total;
    }
  }

  /** #collectOrphans deletes uploads that never committed (bytes first, then the hidden row). */
  async #collectOrphans(): Promise<number> {
    let total = 0;
    for (;;) {
      const rows = await this.#db
        .q()
        .selectFrom("storage_file")
        .select(["id", "environment_id", "tenant_id", "blob_key"])
        .where("status", "=", "uploading")
        .where("created_at", "<", this.m.clock.now() - this.m.config.storage.uploadTimeoutMs)
        .orderBy("id")
        .limit(BATCH)
        .execute();
      for (const row of rows) {
        await this.store.delete(row.blob_key);
        const ctx = this.#ctx();
        await this.m.db.write(ctx, async (tx) => {
          const gone = await this.#db
            .q(tx)
            .deleteFrom("storage_file")
            .where("id", "=", row.id)
            .where("status", "=", "uploading")
            .executeTakeFirst();
          if (Number(gone.numDeletedRows) !== 1) return;
          total++;
          await this.m.facts.record(tx, ctx, {
            type: "file.upload_abandoned",
            environmentId: row.environment_id,
            tenantId: row.tenant_id,
            targets: [{ type: "file", id: row.id }],
          });
        });
      }
      if (rows.length < BATCH) return total;
    }
  }

  /** tenantState: set by the module's wiring (the tenancy module's service). */
  tenantState: TenantStateOf = async () => null;

  /**
   * onFact: a tenant's deactivation or reactivation brings its files in line with its state (the
   * job runs after the commit): deactivated, they go to the trash; reactivated, the files its
   * deactivation trashed come back, if the trash has not been purged yet.
   */
  async onFact(tx: Tx, fact: Fact): Promise<void> {
    if ((fact.type !== "tenant.deactivated" && fact.type !== "tenant.reactivated") || !fact.environmentId) return;
    const tenantId = fact.targets.find((t) => t.type === "tenant")?.id ?? fact.tenantId;
    if (!tenantId) return;
    await this.m.jobs.enqueue(tx, SYNC_TENANT_JOB, { environmentId: fact.environmentId, tenantId });
  }

  /**
   * syncTenant brings a tenant's files in line with its current state, whichever transition queued
   * it: a deactivated tenant's active files go to the trash (`file.deleted`, reason
   * `tenant_deactivated`, purged after the trash period like any trashed file); an active or
   * suspended tenant gets back the files its deactivation trashed (`file.restored`). The state is
   * read again before each batch, so a reactivation while its deactivation's run is under way stops
   * that run, and the reactivation's own run restores what it trashed. Returns the files moved.
   */
  async syncTenant(scope: { environmentId: string; tenantId: string }): Promise<number> {
    let moved = 0;
    for (;;) {
      const state = await this.tenantState(scope.environmentId, scope.tenantId);
      if (!state) return moved;
      const deactivated = state.status === "deactivated";
      // A deactivated tenant's open upload sessions are discarded with their bytes (none becomes a file).
      if (deactivated) await this.uploads.purgeExpired(scope);
      const rows = await this.#db
        .q()
        .selectFrom("storage_file")
        .select(["id", "environment_id", "tenant_id"])
        .where("environment_id", "=", scope.environmentId)
        .where("tenant_id", "=", scope.tenantId)
        .$if(deactivated, (qb) => qb.where("status", "=", "active"))
        .$if(!deactivated, (qb) =>
          qb
            .where("status", "=", "deleted")
            .where("deleted_reason", "=", "tenant_deactivated")
            .where("purge_at", ">", this.m.clock.now()),
        )
        .orderBy("id")
        .limit(BATCH)
        .execute();
      for (const row of rows) {
        if (deactivated ? await this.#trash(row, "tenant_deactivated") : await this.#restore(row)) moved++;
      }
      if (rows.length < BATCH) return moved;
    }
  }

  /** #restore takes a file its tenant's deactivation trashed out of the trash (before its purge). */
  async #restore(row: { id: string; environment_id: string; tenant_id: string | null }): Promise<boolean> {
    const ctx = this.#ctx();
    return this.m.db.write(ctx, async (tx) => {
      const now = this.m.clock.now();
      const restored = await this.#db
        .q(tx)
        .updateTable("storage_file")
        .set({ status: "active", deleted_at: null, deleted_reason: null, purge_at: null, updated_at: now })
        .where("id", "=", row.id)
        .where("status", "=", "deleted")
        .where("deleted_reason", "=", "tenant_deactivated")
        .where("purge_at", ">", now)
        .executeTakeFirst();
      if (Number(restored.numUpdatedRows) !== 1) return false;
      await this.m.facts.record(tx, ctx, {
        type: "file.restored",
        environmentId: row.environment_id,
        tenantId: row.tenant_id,
        targets: [{ type: "file", id: row.id }],
        data: { reason: "tenant_reactivated" },
      });
      return true;
    });
  }

  /**
   * purgeTenant deletes every file of a tenant, bytes included, each with its facts (`file.deleted`
   * then `file.purged`): tenant deactivation, and offboarding (which calls it directly).
   */
  async purgeTenant(scope: { environmentId: string; tenantId: string }): Promise<number> {
    // Its open upload sessions go first, bytes included (none of them becomes a file now).
    await this.uploads.purgeExpired(scope);
    for (;;) {
      const rows = await this.#db
        .q()
        .selectFrom("storage_file")
        .select(["id", "environment_id", "tenant_id"])
        .where("environment_id", "=", scope.environmentId)
        .where("tenant_id", "=", scope.tenantId)
        .where("status", "=", "active")
        .limit(BATCH)
        .execute();
      for (const row of rows) await this.#trash(row, "tenant_purged", true);
      if (rows.length < BATCH) break;
    }
    // Files already in the trash go now too.
    await this.#db
      .q()
      .updateTable("storage_file")
      .set({ purge_at: this.m.clock.now() })
      .where("environment_id", "=", scope.environmentId)
      .where("tenant_id", "=", scope.tenantId)
      .where("status", "=", "deleted")
      .execute();
    return this.#purgeDue(scope);
  }
}
