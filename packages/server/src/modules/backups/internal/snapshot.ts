import { randomBytes } from "node:crypto";
import { constants } from "node:fs";
import { copyFile, mkdir, stat } from "node:fs/promises";
import { dirname, join, resolve, sep } from "node:path";
import BetterSqlite3 from "better-sqlite3";
import type { Config } from "../../../config.js";
import {
  backupIdAt,
  DATABASE_FILES,
  FILES_DIR,
  MANIFEST_FORMAT,
  MANIFEST_VERSION,
  type Manifest,
  type ManifestFile,
  sha256File,
} from "./manifest.js";
import { runPgTool } from "./pg-tools.js";
import { type BackupTarget, filesUnder } from "./targets.js";

/** BackupProgress is what a long backup reports while it runs (the CLI draws it as a status line). */
export interface BackupProgress {
  phase: "files" | "database" | "hashing" | "upload";
  done: number;
  total: number;
  detail?: string;
}

/** SnapshotSource is the plane a backup is taken of. */
export interface SnapshotSource {
  config: Config;
  planeVersion: string;
  /** migrations: the migrations applied to the database, oldest first. */
  migrations: () => Promise<string[]>;
  now: () => number;
}

/**
 * STORE_SKIPPED: folders of the local blob store that are not files of the plane: `.tmp` holds
 * writes not yet renamed into place, `.uploads` open resumable upload sessions (their clients
 * start them again after a restore).
 */
const STORE_SKIPPED = new Set([".tmp", ".uploads"]);

/**
 * takeBackup writes one backup of the plane to `target` and returns its manifest.
 *
 * Consistency: the database snapshot is one read transaction (SQLite: `db.backup` copying every
 * page in one step, so a writer in another process never restarts it; PostgreSQL: `pg_dump`'s
 * snapshot). Every write acknowledged before `snapshotAt` is in it. Blobs of the local store are
 * copied before the snapshot and again (the new ones) after it: a blob is written before the row
 * naming it commits, so every blob the snapshot references is in the backup; blobs written after
 * it are harmless extras. NOTE: a blob written in the moments just before the snapshot and purged
 * (its file deleted and its trash period over) before the second pass would be missing; with the
 * trash period (BASEPLATE_STORAGE_TRASH_HOURS, 7 days by default) that cannot happen.
 * The master key file is never copied, even when it lies inside the storage folder.
 */
export async function takeBackup(
  source: SnapshotSource,
  target: BackupTarget,
  onProgress: (p: BackupProgress) => void = () => {},
): Promise<Manifest> {
  const { config } = source;
  const started = source.now();
  const id = backupIdAt(started, randomBytes(3).toString("hex"));
  const staged = await target.stage(id);
  try {
    const migrations = await source.migrations();
    const local = config.storage.driver === "local";
    const excluded = new Set([resolve(config.masterKeyFile), resolve(staged)]);
    const targetDir = target.location.startsWith("s3://") ? null : resolve(target.location);
    const copied = new Set<string>();
    const copyBlobs = async () => {
      if (!local) return;
      const all = (await filesUnder(config.storage.dir)).filter((p) => {
        const full = resolve(config.storage.dir, p);
        if (excluded.has(full) || (targetDir && (full + sep).startsWith(targetDir + sep))) return false;
        return !STORE_SKIPPED.has(p.split("/")[0] as string) && !copied.has(p);
      });
      let done = 0;
      for (const p of all) {
        onProgress({ phase: "files", done, total: all.length, detail: p });
        const to = join(staged, FILES_DIR, p);
        await mkdir(dirname(to), { recursive: true });
        try {
          // A reflink where the filesystem has them, else a copy: the backup never shares bytes with the plane.
          await copyFile(resolve(config.storage.dir, p), to, constants.COPYFILE_FICLONE);
          copied.add(p);
        } catch (err) {
          // Deleted since it was listed: it was not needed by a later snapshot either.
          if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
        }
        done++;
      }
      onProgress({ phase: "files", done, total: all.length });
    };

    await copyBlobs();
    const dbFile = DATABASE_FILES[config.database.engine];
    onProgress({ phase: "database", done: 0, total: 1 });
    const snapshotAt = source.now();
    if (config.database.engine === "sqlite") {
      await snapshotSqlite(config.database.file, join(staged, dbFile), (done, total) =>
        onProgress({ phase: "database", done, total }),
      );
    } else {
      await runPgTool(
        "pg_dump",
        [
          "--format=custom",
          "--no-owner",
          "--no-privileges",
          `--schema=${config.database.schema}`,
          `--file=${join(staged, dbFile)}`,
        ],
        config.database.url,
      );
    }
    onProgress({ phase: "database", done: 1, total: 1 });
    await copyBlobs();

    const paths = [dbFile, ...[...copied].sort().map((p) => `${FILES_DIR}/${p}`)];
    const files: ManifestFile[] = [];
    for (const [i, path] of paths.entries()) {
      onProgress({ phase: "hashing", done: i, total: paths.length, detail: path });
      const { sha256, bytes } = await sha256File(join(staged, path));
      files.push({ path, bytes, sha256 });
    }
    const database = files[0] as ManifestFile;
    const manifest: Manifest = {
      format: MANIFEST_FORMAT,
      version: MANIFEST_VERSION,
      id,
      createdAt: new Date(started).toISOString(),
      snapshotAt: new Date(snapshotAt).toISOString(),
      planeVersion: source.planeVersion,
      engine: config.database.engine,
      schema: config.database.engine === "postgres" ? config.database.schema : null,
      migrations,
      lastMigration: migrations[migrations.length - 1] ?? null,
      storage: {
        driver: config.storage.driver,
        files: copied.size,
        bucket: local ? null : config.storage.s3.bucket,
      },
      database: { path: database.path, bytes: database.bytes },
      totalBytes: files.reduce((n, f) => n + f.bytes, 0),
      files,
    };
    let uploaded = 0;
    await target.publish(id, staged, manifest, (path) =>
      onProgress({ phase: "upload", done: uploaded++, total: files.length, detail: path }),
    );
    return manifest;
  } catch (err) {
    await target.discard(staged).catch(() => undefined);
    throw err;
  }
}

/**
 * snapshotSqlite copies the database with SQLite's online backup API through a connection of its
 * own. Every page is copied in one step, inside one read transaction: in WAL mode writers go on
 * meanwhile, and a write from another connection (the server, when the CLI takes the backup)
 * cannot restart the copy halfway as it would between small steps.
 */
async function snapshotSqlite(file: string, to: string, progress: (done: number, total: number) => void) {
  await stat(file);
  const source = new BetterSqlite3(file, { fileMustExist: true });
  try {
    source.pragma("busy_timeout = 10000");
    await source.backup(to, {
      progress: ({ totalPages, remainingPages }) => {
        progress(totalPages - remainingPages, totalPages);
        return 0x7fffffff;
      },
    });
  } finally {
    source.close();
  }
}
