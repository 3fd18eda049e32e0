import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, mkdtemp, open, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve, sep } from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import {
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import type { Config } from "../../../config.js";
import { BACKUP_ID, MANIFEST_FILE, type Manifest, parseManifest } from "./manifest.js";

/**
 * BackupTarget is where backups are kept: a local folder or an S3-compatible bucket. A new backup
 * is written to a local staging folder first and published whole (`publish`), its manifest last,
 * so a backup interrupted halfway is never listed: only backups with a manifest exist.
 */
export interface BackupTarget {
  /** location names the target as the operator wrote it (a folder, or `s3://bucket/prefix`). */
  readonly location: string;
  /** stage returns an empty local folder to assemble backup `id` in. */
  stage(id: string): Promise<string>;
  /** publish makes the staged folder backup `id`, writing `manifest` last; the staging folder is gone after. */
  publish(id: string, staged: string, manifest: Manifest, onFile?: (path: string) => void): Promise<void>;
  /** discard removes a staging folder after a failure. */
  discard(staged: string): Promise<void>;
  /** ids lists the complete backups (those with a manifest), oldest first. */
  ids(): Promise<string[]>;
  /** manifest reads backup `id`'s manifest; null when there is no such backup. Throws when it is unreadable. */
  manifest(id: string): Promise<Manifest | null>;
  /** read opens one file of backup `id`; throws `MissingBackupFile` when it is absent. */
  read(id: string, path: string): Promise<Readable>;
  /** remove deletes backup `id` (manifest first, so a half-removed backup is no longer listed). */
  remove(id: string): Promise<void>;
  /** where tells where backup `id` is, for messages (`baseplate backup restore --from …`). */
  where(id: string): string;
}

/** MissingBackupFile: a file the manifest lists is not in the backup. */
export class MissingBackupFile extends Error {
  constructor(readonly path: string) {
    super(`${path} is missing from the backup`);
    this.name = "MissingBackupFile";
  }
}

export type S3TargetOptions = Config["backups"]["s3"];

/** openTarget opens `location`: `s3://bucket/prefix` or a local folder. */
export function openTarget(location: string, s3: S3TargetOptions): BackupTarget {
  if (location.startsWith("s3://")) {
    const rest = location.slice("s3://".length);
    const slash = rest.indexOf("/");
    const bucket = slash === -1 ? rest : rest.slice(0, slash);
    const prefix = slash === -1 ? "" : rest.slice(slash + 1).replace(/^\/+|\/+$/g, "");
    return new S3Target(bucket, prefix === "" ? "" : `${prefix}/`, s3);
  }
  return new LocalTarget(location);
}

/**
 * splitBackupLocation splits the location of one backup (`/backups/backup-…`, `s3://b/p/backup-…`)
 * into its target and its id. Returns null when the last segment is not a backup id.
 */
export function splitBackupLocation(location: string): { target: string; id: string } | null {
  const trimmed = location.replace(/\/+$/, "");
  const cut = trimmed.lastIndexOf("/");
  const id = trimmed.slice(cut + 1);
  if (!BACKUP_ID.test(id)) return null;
  const target = cut === -1 ? "." : trimmed.slice(0, cut);
  return { target: target === "" ? "/" : target, id };
}

/** filesUnder lists the files under `root` (relative paths with `/`), sorted. */
export async function filesUnder(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string) => {
    const entries = await readdir(dir, { withFileTypes: true }).catch((err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT") return [];
      throw err;
    });
    for (const e of entries) {
      const path = join(dir, e.name);
      if (e.isDirectory()) await walk(path);
      else if (e.isFile()) out.push(relative(root, path).split(sep).join("/"));
    }
  };
  await walk(root);
  return out.sort();
}

/** safeJoin joins a manifest path under `root`, refusing any path that would leave it. */
export function safeJoin(root: string, path: string): string {
  const full = resolve(root, path);
  if (!full.startsWith(resolve(root) + sep)) throw new Error(`Refused path ${JSON.stringify(path)} in a backup`);
  return full;
}

async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** LocalTarget keeps each backup as a folder `<dir>/<id>`, staged as `<dir>/.partial-<id>` and renamed into place. */
class LocalTarget implements BackupTarget {
  readonly location: string;
  readonly #dir: string;

  constructor(dir: string) {
    this.#dir = resolve(dir);
    this.location = this.#dir;
  }

  where(id: string): string {
    return join(this.#dir, id);
  }

  async stage(id: string): Promise<string> {
    const staged = join(this.#dir, `.partial-${id}`);
    await mkdir(staged, { recursive: true, mode: 0o700 });
    return staged;
  }

  async publish(id: string, staged: string, manifest: Manifest): Promise<void> {
    const path = join(staged, MANIFEST_FILE);
    await writeFile(path, `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o600, flush: true });
    await rename(staged, join(this.#dir, id));
    await syncDir(this.#dir);
  }

  async discard(staged: string): Promise<void> {
    await rm(staged, { recursive: true, force: true });
  }

  async ids(): Promise<string[]> {
    const names = await readdir(this.#dir).catch((err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT") return [] as string[];
      throw err;
    });
    const ids: string[] = [];
    for (const name of names.filter((n) => BACKUP_ID.test(n)).sort()) {
      if (
        await stat(join(this.#dir, name, MANIFEST_FILE)).then(
          (s) => s.isFile(),
          () => false,
        )
      )
        ids.push(name);
    }
    return ids;
  }

  async manifest(id: string): Promise<Manifest | null> {
    if (!BACKUP_ID.test(id)) return null;
    const text = await readFile(join(this.#dir, id, MANIFEST_FILE), "utf8").catch((err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT") return null;
      throw err;
    });
    return text === null ? null : parseManifest(text);
  }

  async read(id: string, path: string): Promise<Readable> {
    const full = safeJoin(join(this.#dir, id), path);
    const fh = await open(full, "r").catch((err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT") throw new MissingBackupFile(path);
      throw err;
    });
    return fh.createReadStream({ highWaterMark: 1 << 20 });
  }

  async remove(id: string): Promise<void> {
    if (!BACKUP_ID.test(id)) return;
    await rm(join(this.#dir, id, MANIFEST_FILE), { force: true });
    await rm(join(this.#dir, id), { recursive: true, force: true });
  }
}

/**
 * S3Target keeps each backup under `<prefix><id>/` in a bucket. Checksums are computed only when an
 * operation requires them (`WHEN_REQUIRED`), as the storage module does: S3-compatible servers do
 * not all accept the SDK's default trailing checksums, and the manifest keeps SHA-256 of each file.
 */
class S3Target implements BackupTarget {
  readonly location: string;
  readonly #client: S3Client;

  constructor(
    readonly bucket: string,
    readonly prefix: string,
    options: S3TargetOptions,
  ) {
    this.location = `s3://${bucket}/${prefix}`.replace(/\/$/, "");
    this.#client = new S3Client({
      region: options.region,
      forcePathStyle: options.forcePathStyle,
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
      ...(options.accessKeyId && options.secretAccessKey
        ? { credentials: { accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey } }
        : {}),
    });
  }

  where(id: string): string {
    return `s3://${this.bucket}/${this.prefix}${id}`;
  }

  async stage(id: string): Promise<string> {
    return mkdtemp(join(tmpdir(), `baseplate-${id}-`));
  }

  async publish(id: string, staged: string, manifest: Manifest, onFile?: (path: string) => void): Promise<void> {
    try {
      for (const file of manifest.files) {
        onFile?.(file.path);
        await this.#client.send(
          new PutObjectCommand({
            Bucket: this.bucket,
            Key: `${this.prefix}${id}/${file.path}`,
            Body: createReadStream(safeJoin(staged, file.path)),
            ContentLength: file.bytes,
          }),
        );
      }
      await this.#client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: `${this.prefix}${id}/${MANIFEST_FILE}`,
          Body: `${JSON.stringify(manifest, null, 2)}\n`,
          ContentType: "application/json",
        }),
      );
    } finally {
      await this.discard(staged);
    }
  }

  async discard(staged: string): Promise<void> {
    await rm(staged, { recursive: true, force: true });
  }

  async ids(): Promise<string[]> {
    const ids: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.#client.send(
        new ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: this.prefix,
          Delimiter: "/",
          ...(token ? { ContinuationToken: token } : {}),
        }),
      );
      for (const p of page.CommonPrefixes ?? []) {
        const id = (p.Prefix ?? "").slice(this.prefix.length).replace(/\/$/, "");
        if (BACKUP_ID.test(id)) ids.push(id);
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    const complete: string[] = [];
    for (const id of ids.sort()) if (await this.#exists(`${this.prefix}${id}/${MANIFEST_FILE}`)) complete.push(id);
    return complete;
  }

  async #exists(key: string): Promise<boolean> {
    const page = await this.#client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: key, MaxKeys: 1 }));
    return (page.Contents ?? []).some((c) => c.Key === key);
  }

  async manifest(id: string): Promise<Manifest | null> {
    if (!BACKUP_ID.test(id)) return null;
    let body: Readable;
    try {
      body = await this.read(id, MANIFEST_FILE);
    } catch (err) {
      if (err instanceof MissingBackupFile) return null;
      throw err;
    }
    const chunks: Buffer[] = [];
    for await (const chunk of body) chunks.push(chunk as Buffer);
    return parseManifest(Buffer.concat(chunks).toString("utf8"));
  }

  async read(id: string, path: string): Promise<Readable> {
    try {
      const res = await this.#client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: `${this.prefix}${id}/${path}` }),
      );
      return res.Body as Readable;
    } catch (err) {
      const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
      if (e.name === "NoSuchKey" || e.$metadata?.httpStatusCode === 404) throw new MissingBackupFile(path);
      throw err;
    }
  }

  async remove(id: string): Promise<void> {
    if (!BACKUP_ID.test(id)) return;
    const base = `${this.prefix}${id}/`;
    await this.#client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: `${base}${MANIFEST_FILE}` }));
    let token: string | undefined;
    do {
      const page = await this.#client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: base, ...(token ? { ContinuationToken: token } : {}) }),
      );
      // One by one: DeleteObjects needs a Content-MD5 that S3-compatible servers check differently.
      for (const o of page.Contents ?? []) {
        if (o.Key) await this.#client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: o.Key }));
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }
}

/** copyStreamTo writes a stream to `path` (creating its folder), fsynced before it resolves. */
export async function copyStreamTo(body: Readable, path: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await pipeline(body, createWriteStream(path, { flags: "wx", mode: 0o600, flush: true }));
}
