import { createWriteStream } from "node:fs";
import { mkdir, readdir, rm } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { finished } from "node:stream/promises";
import pg from "pg";
import { DATABASE_FILES, FILES_DIR, type Manifest } from "./manifest.js";
import { runPgTool } from "./pg-tools.js";
import type { BackupTarget } from "./targets.js";
import { type BackupCheck, checkBackup } from "./verify.js";

/** RestoreRefused: the restore did not start, or stopped and removed what it wrote; the message says why. */
export class RestoreRefused extends Error {
  constructor(
    message: string,
    readonly check?: BackupCheck,
  ) {
    super(message);
    this.name = "RestoreRefused";
  }
}

/** RestoreRequest: which backup, into which new data dir (and, for PostgreSQL, which empty schema). */
export interface RestoreRequest {
  target: BackupTarget;
  id: string;
  /** dataDir: the new data dir (must not exist, or be empty): the SQLite file and the local files go there. */
  dataDir: string;
  /** postgres: the database a PostgreSQL backup is restored into (its schema must hold nothing). */
  postgres?: { url: string; schema: string };
  /** knownMigrations: every migration this build knows. */
  knownMigrations: readonly string[];
  onProgress?: (phase: "files" | "database", done: number, total: number, detail?: string) => void;
}

export interface RestoreResult {
  manifest: Manifest;
  check: BackupCheck;
  dataDir: string;
  /** pendingMigrations: migrations of this build the backup predates (applied at the next start). */
  pendingMigrations: string[];
}

/**
 * restoreBackup restores backup `id` into a new data dir, never over a live one: it refuses a
 * data dir that exists and is not empty, a PostgreSQL schema that holds anything, and a backup
 * whose migrations this build does not know (a newer plane's). Every file is checked against the
 * manifest while it is written; on any mismatch everything written is removed.
 */
export async function restoreBackup(req: RestoreRequest): Promise<RestoreResult> {
  const manifest = await req.target.manifest(req.id);
  if (!manifest) throw new RestoreRefused(`No backup ${req.id} in ${req.target.location}.`);
  const unknown = manifest.migrations.filter((m) => !req.knownMigrations.includes(m));
  if (unknown.length > 0) {
    throw new RestoreRefused(
      `The backup is newer than this build: it was taken by Baseplate ${manifest.planeVersion} and has ` +
        `${unknown.length} migration(s) this build does not know (${unknown.join(", ")}). Restore it with ` +
        `Baseplate ${manifest.planeVersion} or newer.`,
    );
  }
  if (manifest.engine === "postgres" && !req.postgres) {
    throw new RestoreRefused("This is a PostgreSQL backup: give the database to restore it into (--database-url).");
  }
  if (manifest.engine === "sqlite" && req.postgres) {
    throw new RestoreRefused("This is a SQLite backup: it restores into a data dir only (no --database-url).");
  }
  const dataDir = resolve(req.dataDir);
  const existing = await readdir(dataDir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") return null;
    throw err;
  });
  if (existing && existing.length > 0) {
    throw new RestoreRefused(
      `${dataDir} exists and is not empty: a backup is restored into a new data dir only, never over a live one.`,
    );
  }
  if (manifest.engine === "postgres" && req.postgres) await refuseNonEmptySchema(req.postgres.url, req.postgres.schema);

  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const staging = join(dataDir, ".restore");
  const dbFile = DATABASE_FILES[manifest.engine];
  const placeOf = (path: string) => {
    if (path === dbFile)
      return manifest.engine === "sqlite" ? join(dataDir, "baseplate.sqlite") : join(staging, dbFile);
    if (path.startsWith(`${FILES_DIR}/`)) return resolve(dataDir, path);
    throw new Error(`Unexpected file ${path} in the backup`);
  };
  try {
    const check = await checkBackup(
      req.target,
      manifest,
      (done, total, path) => req.onProgress?.("files", done, total, path),
      async (path) => {
        const to = placeOf(path);
        if (!to.startsWith(dataDir)) throw new Error(`Refused path ${path} in the backup`);
        await mkdir(dirname(to), { recursive: true });
        const stream = createWriteStream(to, { flags: "wx", mode: 0o600, flush: true });
        return {
          stream,
          done: async () => {
            stream.end();
            await finished(stream);
          },
        };
      },
    );
    if (!check.ok) {
      throw new RestoreRefused(
        `The backup is damaged: ${check.problems.map((p) => `${p.path}: ${p.message}`).join("; ")}. Nothing was restored.`,
        check,
      );
    }
    if (manifest.engine === "postgres" && req.postgres) {
      req.onProgress?.("database", 0, 1);
      await runPgTool(
        "pg_restore",
        [
          "--no-owner",
          "--no-privileges",
          "--exit-on-error", // The connection (with its password) goes in the environment; only the name is on the command line.
          `--dbname=${decodeURIComponent(new URL(req.postgres.url).pathname.slice(1)) || "postgres"}`,
          join(staging, dbFile),
        ],
        req.postgres.url,
      );
      req.onProgress?.("database", 1, 1);
    }
    await rm(staging, { recursive: true, force: true });
    return {
      manifest,
      check,
      dataDir,
      pendingMigrations: req.knownMigrations.filter((m) => !manifest.migrations.includes(m)),
    };
  } catch (err) {
    await rm(dataDir, { recursive: true, force: true }).catch(() => undefined);
    throw err;
  }
}

/** refuseNonEmptySchema throws RestoreRefused when `schema` holds any table, view or sequence. */
async function refuseNonEmptySchema(url: string, schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query(
      "select count(*)::int as n from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = $1",
      [schema],
    );
    if ((rows[0]?.n ?? 0) > 0) {
      throw new RestoreRefused(
        `Schema "${schema}" of the target database is not empty: a backup is restored into an empty schema or a new database only.`,
      );
    }
    // An empty schema of that name is dropped: the dump creates it (with everything in it).
    if (schema !== "public") await client.query(`drop schema if exists "${schema.replace(/"/g, '""')}"`);
  } finally {
    await client.end();
  }
}
