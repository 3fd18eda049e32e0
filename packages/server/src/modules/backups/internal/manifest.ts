import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { z } from "zod";

/** MANIFEST_FORMAT names the file; MANIFEST_VERSION is bumped when its meaning changes. */
export const MANIFEST_FORMAT = "baseplate-backup";
export const MANIFEST_VERSION = 1;
/** MANIFEST_FILE: the manifest's name inside a backup. It is written last: a backup without it is incomplete. */
export const MANIFEST_FILE = "manifest.json";
/** DATABASE_FILES: the database snapshot's name inside a backup, by engine. */
export const DATABASE_FILES = { sqlite: "database.sqlite", postgres: "database.pgdump" } as const;
/** FILES_DIR: the folder of the local blob store's files inside a backup. */
export const FILES_DIR = "files";

/** BACKUP_ID: `backup-20261207T125400123Z-1a2b3c`: sortable by time, safe as a folder or key name. */
export const BACKUP_ID = /^backup-\d{8}T\d{9}Z-[0-9a-f]{6}$/;

/** backupIdAt names a backup taken at `ms`. */
export function backupIdAt(ms: number, random: string): string {
  const stamp = new Date(ms).toISOString().replace(/[-:.]/g, "");
  return `backup-${stamp}-${random}`;
}

export const ManifestFile = z.object({
  path: z.string().min(1),
  bytes: z.number().int().min(0),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
});
export type ManifestFile = z.infer<typeof ManifestFile>;

/**
 * Manifest describes one backup: what was taken, from which plane and build, and the SHA-256 of
 * every file, so `verify` checks a backup without restoring it. It names no secret: the master
 * key is never part of a backup.
 */
export const Manifest = z.object({
  format: z.literal(MANIFEST_FORMAT),
  version: z.literal(MANIFEST_VERSION),
  id: z.string().regex(BACKUP_ID),
  createdAt: z.string(),
  /** snapshotAt: when the database snapshot's read transaction began (every write acknowledged before is in it). */
  snapshotAt: z.string(),
  planeVersion: z.string(),
  engine: z.enum(["sqlite", "postgres"]),
  /** schema: the PostgreSQL schema dumped (null on SQLite). */
  schema: z.string().nullable(),
  migrations: z.array(z.string()),
  lastMigration: z.string().nullable(),
  storage: z.object({
    driver: z.enum(["local", "s3"]),
    /** files: blobs in the backup (local driver); with `s3` the bytes stay in the plane's bucket. */
    files: z.number().int().min(0),
    bucket: z.string().nullable(),
  }),
  database: z.object({ path: z.string(), bytes: z.number().int().min(0) }),
  totalBytes: z.number().int().min(0),
  files: z.array(ManifestFile),
});
export type Manifest = z.infer<typeof Manifest>;

/** sha256File hashes a file as a stream (constant memory) and counts its bytes. */
export async function sha256File(path: string): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash("sha256");
  let bytes = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { sha256: hash.digest("hex"), bytes };
}

/** parseManifest reads a manifest's JSON; throws an Error naming what is wrong. */
export function parseManifest(text: string): Manifest {
  const parsed = Manifest.safeParse(JSON.parse(text));
  if (!parsed.success) {
    throw new Error(`not a Baseplate backup manifest: ${parsed.error.issues[0]?.message ?? "invalid"}`);
  }
  return parsed.data;
}
