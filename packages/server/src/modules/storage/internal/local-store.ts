import { randomBytes } from "node:crypto";
import { createReadStream, createWriteStream, open as openCallback } from "node:fs";
import { mkdir, open, readdir, rename, rm, stat, truncate, unlink } from "node:fs/promises";
import { dirname, join, resolve, sep } from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { BlobNotFound, type BlobStore, checkKey, DirectUploadUnsupported } from "./blob-store.js";

const TMP = ".tmp";
/** SESSIONS: the folder of upload sessions' append-only files (kept apart from `.tmp`, swept sooner). */
const SESSIONS = ".uploads";
const HANDLE = /^[A-Za-z0-9_-]{1,128}$/;

/**
 * LocalBlobStore keeps blobs in a folder (by default `<data dir>/files`). A write goes to a temp
 * file under `<root>/.tmp`, is fsynced, then renamed into place (atomic: a reader sees the whole
 * blob or none) and the folder is fsynced, so a crash never leaves a half-written blob at a key.
 */
export class LocalBlobStore implements BlobStore {
  readonly kind = "local" as const;
  readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
  }

  /** path maps a key inside the root; anything that would resolve outside it is refused. */
  path(key: string): string {
    const path = resolve(this.root, checkKey(key));
    if (!path.startsWith(this.root + sep)) throw new Error(`Refused blob key ${JSON.stringify(key)}`);
    return path;
  }

  async put(key: string, body: Readable): Promise<void> {
    // An error the body emits before the pipeline below is attached is kept on the stream (errored).
    body.on("error", () => {});
    const target = this.path(key);
    const tmpDir = join(this.root, TMP);
    await mkdir(tmpDir, { recursive: true });
    const tmp = join(tmpDir, `${Date.now()}-${randomBytes(8).toString("hex")}`);
    try {
      // flush: the file is fsynced before it closes (and before the pipeline resolves).
      await pipeline(body, createWriteStream(tmp, { flags: "wx", mode: 0o600, flush: true, highWaterMark: 1 << 20 }));
      await mkdir(dirname(target), { recursive: true });
      await rename(tmp, target);
      await syncDir(dirname(target));
    } catch (err) {
      await unlink(tmp).catch(() => {});
      throw err;
    }
  }

  async get(key: string, range?: { start: number; end: number }): Promise<Readable> {
    const path = this.path(key);
    // A numeric descriptor (opened here, so a missing blob fails before any header is sent): the
    // stream reads with plain fs.read, faster than through a FileHandle.
    const fd = await openFd(path).catch((err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT") throw new BlobNotFound(key);
      throw err;
    });
    return createReadStream("", {
      fd,
      highWaterMark: 1 << 20,
      ...(range ? { start: range.start, end: range.end } : {}),
    });
  }

  async delete(key: string): Promise<void> {
    await rm(this.path(key), { force: true });
  }

  async exists(key: string): Promise<boolean> {
    return stat(this.path(key)).then(
      (s) => s.isFile(),
      () => false,
    );
  }

  async sweep(olderThan: number, keep?: (handle: string) => Promise<boolean>): Promise<number> {
    let removed = 0;
    for (const [folder, kept] of [
      [TMP, null],
      [SESSIONS, keep ?? null],
    ] as const) {
      const dir = join(this.root, folder);
      const names = await readdir(dir).catch(() => [] as string[]);
      for (const name of names) {
        const path = join(dir, name);
        const s = await stat(path).catch(() => null);
        if (!s || s.mtimeMs >= olderThan) continue;
        // A session's file goes only when no open session holds it (a crash between its creation and its row).
        if (folder === SESSIONS && (kept === null || (await kept(name)))) continue;
        await rm(path, { force: true });
        removed++;
      }
    }
    return removed;
  }

  async size(key: string): Promise<number | null> {
    return stat(this.path(key)).then(
      (s) => (s.isFile() ? s.size : null),
      () => null,
    );
  }

  readonly minChunkBytes = 1;

  /** sessionPath: a session's append-only file, `<root>/.uploads/<handle>`. */
  sessionPath(handle: string): string {
    if (!HANDLE.test(handle)) throw new Error(`Refused session handle ${JSON.stringify(handle)}`);
    return join(this.root, SESSIONS, handle);
  }

  async beginSession(_key: string, sessionId: string): Promise<string> {
    const path = this.sessionPath(sessionId);
    await mkdir(dirname(path), { recursive: true });
    const fh = await open(path, "wx", 0o600);
    await fh.close();
    return sessionId;
  }

  /**
   * writeChunk cuts the file back to `offset` (dropping what an interrupted chunk left), appends the
   * chunk and fsyncs it before resolving: the session's offset is recorded only after that.
   */
  async writeChunk(
    _key: string,
    handle: string,
    chunk: { offset: number; part: number; length: number },
    body: Readable,
  ): Promise<string | null> {
    body.on("error", () => {});
    const path = this.sessionPath(handle);
    await truncate(path, chunk.offset);
    await pipeline(
      body,
      createWriteStream(path, { flags: "r+", start: chunk.offset, flush: true, highWaterMark: 1 << 20 }),
    );
    return null;
  }

  async finishSession(key: string, handle: string): Promise<void> {
    const path = this.sessionPath(handle);
    const target = this.path(key);
    await mkdir(dirname(target), { recursive: true });
    try {
      await rename(path, target);
    } catch (err) {
      // Finished before (a retried completion): the bytes are at the key.
      if ((err as NodeJS.ErrnoException).code === "ENOENT" && (await this.exists(key))) return;
      throw err;
    }
    await syncDir(dirname(target));
  }

  async abortSession(_key: string, handle: string): Promise<void> {
    await rm(this.sessionPath(handle), { force: true });
  }

  async presignPut(): Promise<{ url: string; headers: Record<string, string> }> {
    throw new DirectUploadUnsupported();
  }

  async close(): Promise<void> {}
}

function openFd(path: string): Promise<number> {
  return new Promise((resolve, reject) => openCallback(path, "r", (err, fd) => (err ? reject(err) : resolve(fd))));
}

async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
