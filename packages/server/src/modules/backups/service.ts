import { createRequire } from "node:module";
import { sql } from "kysely";
import type { z } from "zod";
import { AppError } from "../../platform/errors.js";
import type { Page } from "../../platform/http/pagination.js";
import { afterIdCursor, encodeCursor } from "../../platform/http/pagination.js";
import { newId } from "../../platform/ids.js";
import type { ModuleContext } from "../../platform/module.js";
import { type ActionContext, systemContext } from "../../platform/principal.js";
import { BackupErrors } from "./errors.js";
import type { Manifest } from "./internal/manifest.js";
import { PgToolMissing } from "./internal/pg-tools.js";
import { type BackupProgress, takeBackup } from "./internal/snapshot.js";
import { type BackupTarget, openTarget } from "./internal/targets.js";
import { type BackupCheck, checkBackup } from "./internal/verify.js";
import type { Backup, BackupVerification, CreateBackupInput, ListBackupsQuery } from "./schemas.js";

const pkg = createRequire(import.meta.url)("../../../package.json") as { version: string };
/** PLANE_VERSION is the running plane's version (the server package's). */
export const PLANE_VERSION = pkg.version;

/** SCHEDULED_JOB: the job that takes the scheduled backups (BASEPLATE_BACKUP_SCHEDULE). */
export const SCHEDULED_JOB = "backups.scheduled";

/** BackupRun: how one backup is taken, beyond the caller (the CLI's target and progress, the schedule's flag). */
export interface BackupRun {
  /** target: a folder or `s3://bucket/prefix`; default the configured one (BASEPLATE_BACKUP_TARGET). */
  target?: string;
  /** keep: after the backup, delete the oldest beyond this many (default BASEPLATE_BACKUP_KEEP; 0: none). */
  keep?: number;
  scheduled?: boolean;
  onProgress?: (p: BackupProgress) => void;
}

/** BackupTaken: the new backup and the ones retention deleted. */
export interface BackupTaken {
  backup: Backup;
  manifest: Manifest;
  pruned: string[];
}

/**
 * BackupsService: the plane's backups of itself (database snapshot + local files + manifest) in a
 * folder or an S3-compatible bucket, their listing, verification and retention. Operators reach it
 * through `/v1/operator/backups` (admins take backups, support reads), the CLI and the schedule
 * as system actors. Each backup taken is a `backup.created` fact on the plane's audit chain.
 */
export class BackupsService {
  #running = false;

  constructor(private readonly m: ModuleContext) {}

  /** context is the module's platform context (its review part reads the configuration). */
  get context(): ModuleContext {
    return this.m;
  }

  /** target opens a backup target (default: the configured one). */
  target(location: string = this.m.config.backups.target): BackupTarget {
    return openTarget(location, this.m.config.backups.s3);
  }

  /**
   * appliedMigrations lists the migrations applied to the plane's database, oldest first.
   * NOTE: reads the platform migrator's own table: a backup records the schema it holds.
   */
  async appliedMigrations(): Promise<string[]> {
    const { rows } = await sql<{ name: string }>`select name from baseplate_migration order by name`.execute(
      this.m.db.kysely,
    );
    return rows.map((r) => r.name);
  }

  /** createBackup is the operator API's backup (admins: `backups:write`) to the configured target. */
  async createBackup(ctx: ActionContext, input: z.infer<typeof CreateBackupInput>): Promise<Backup> {
    this.m.access.operator(ctx, "backups:write");
    const taken = await this.takeBackup(ctx, input.keep !== undefined ? { keep: input.keep } : {});
    return taken.backup;
  }

  /**
   * takeBackup takes one backup as `ctx` (an operator, or a system actor for the CLI and the
   * schedule; the caller checked who may), records `backup.created` on the plane chain, then
   * applies retention. One backup at a time per process: a second answers 409
   * `backup_in_progress`. Throws 503 `backup_tool_missing` when a PostgreSQL plane has no pg_dump.
   */
  async takeBackup(ctx: ActionContext, run: BackupRun = {}): Promise<BackupTaken> {
    if (this.#running) throw new AppError(BackupErrors.backup_in_progress, "A backup is already being taken.");
    this.#running = true;
    try {
      const target = this.target(run.target);
      let manifest: Manifest;
      try {
        manifest = await takeBackup(
          {
            config: this.m.config,
            planeVersion: pkg.version,
            migrations: () => this.appliedMigrations(),
            now: () => this.m.clock.now(),
          },
          target,
          run.onProgress,
        );
      } catch (err) {
        if (err instanceof PgToolMissing) throw new AppError(BackupErrors.backup_tool_missing, err.message);
        throw err;
      }
      await this.m.db.write(ctx, async (tx) => {
        await this.m.facts.record(tx, ctx, {
          type: "backup.created",
          environmentId: null,
          targets: [{ type: "backup", id: manifest.id }],
          data: {
            target: target.location,
            engine: manifest.engine,
            files: manifest.files.length,
            totalBytes: manifest.totalBytes,
            snapshotAt: manifest.snapshotAt,
            lastMigration: manifest.lastMigration,
            scheduled: run.scheduled === true,
          },
        });
      });
      const pruned = await this.prune(ctx, target, run.keep ?? this.m.config.backups.keep);
      return { backup: toBackup(manifest, target), manifest, pruned };
    } finally {
      this.#running = false;
    }
  }

  /** prune deletes the oldest backups of `target` beyond the newest `keep` (0: none), each a `backup.deleted` fact. */
  async prune(ctx: ActionContext, target: BackupTarget, keep: number): Promise<string[]> {
    if (keep <= 0) return [];
    const ids = await target.ids();
    const old = ids.slice(0, Math.max(0, ids.length - keep));
    for (const id of old) {
      await target.remove(id);
      await this.m.db.write(ctx, async (tx) => {
        await this.m.facts.record(tx, ctx, {
          type: "backup.deleted",
          environmentId: null,
          targets: [{ type: "backup", id }],
          data: { target: target.location, reason: "retention" },
        });
      });
    }
    return old;
  }

  /** listBackups lists the configured target's complete backups, newest first (operators: `backups:read`). */
  async listBackups(ctx: ActionContext, query: z.infer<typeof ListBackupsQuery>): Promise<Page<Backup>> {
    this.m.access.operator(ctx, "backups:read");
    const target = this.target();
    const after = afterIdCursor(query.cursor);
    const ids = (await target.ids()).reverse().filter((id) => after === null || id < after);
    const page = ids.slice(0, query.limit);
    const data: Backup[] = [];
    for (const id of page) {
      const manifest = await target.manifest(id);
      if (manifest) data.push(toBackup(manifest, target));
    }
    const hasMore = ids.length > page.length;
    return { data, hasMore, nextCursor: hasMore ? encodeCursor({ id: page[page.length - 1] as string }) : null };
  }

  /** findBackupById reads one backup of the configured target. Throws 404 `backup_not_found`. */
  async findBackupById(ctx: ActionContext, id: string): Promise<Backup> {
    this.m.access.operator(ctx, "backups:read");
    const target = this.target();
    return toBackup(await this.#manifest(target, id), target);
  }

  /**
   * verifyBackup reads every file of a backup and compares it with its manifest (size and SHA-256),
   * restoring nothing (operators: `backups:read`). Throws 404 `backup_not_found`.
   */
  async verifyBackup(ctx: ActionContext, id: string): Promise<BackupVerification> {
    this.m.access.operator(ctx, "backups:read");
    const target = this.target();
    const check = await checkBackup(target, await this.#manifest(target, id));
    return toVerification(check, this.m.clock.now());
  }

  async #manifest(target: BackupTarget, id: string): Promise<Manifest> {
    const manifest = await target.manifest(id).catch(() => null);
    if (!manifest) throw new AppError(BackupErrors.backup_not_found, `No backup ${id} in the backup target.`);
    return manifest;
  }

  /** scheduledBackup is the schedule's job: a backup to the configured target as the system actor. */
  async scheduledBackup(): Promise<void> {
    await this.takeBackup(systemContext(newId("request"), "backup-schedule"), { scheduled: true });
  }

  /** startSchedule runs the scheduled job on BASEPLATE_BACKUP_SCHEDULE (one process takes each slot). */
  startSchedule(): void {
    const cron = this.m.config.backups.schedule;
    if (!cron) return;
    try {
      this.m.jobs.every(SCHEDULED_JOB, cron);
    } catch (err) {
      throw new Error(`BASEPLATE_BACKUP_SCHEDULE="${cron}" is not a valid cron expression: ${(err as Error).message}`);
    }
  }
}

/** toBackup is a manifest as the API shows it. */
export function toBackup(manifest: Manifest, target: BackupTarget): Backup {
  return {
    id: manifest.id,
    location: target.where(manifest.id),
    createdAt: manifest.createdAt,
    snapshotAt: manifest.snapshotAt,
    planeVersion: manifest.planeVersion,
    engine: manifest.engine,
    lastMigration: manifest.lastMigration,
    migrations: manifest.migrations.length,
    storageDriver: manifest.storage.driver,
    files: manifest.storage.files,
    totalBytes: manifest.totalBytes,
  };
}

export function toVerification(check: BackupCheck, now: number): BackupVerification {
  return { ...check, verifiedAt: new Date(now).toISOString() };
}
