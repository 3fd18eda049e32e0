import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { S3_TEST_CREDENTIALS, type S3TestServer, startS3Server } from "../../../testing/s3-server.js";
import { BlobNotFound, type BlobStore, blobKey, checkKey } from "./blob-store.js";
import { Ingest, TooLarge } from "./ingest.js";
import { LocalBlobStore } from "./local-store.js";
import { S3BlobStore } from "./s3-store.js";

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

/** One behaviour suite, run against each driver. */
function behaves(name: string, make: () => Promise<{ store: BlobStore; done: () => Promise<void> }>) {
  describe(`BlobStore: ${name}`, () => {
    let store: BlobStore;
    let done: () => Promise<void>;
    beforeAll(async () => {
      ({ store, done } = await make());
    });
    afterAll(async () => done());

    it("round-trips bytes exactly (SHA-256 in = SHA-256 out), small and multi-part", async () => {
      for (const size of [0, 1, 5000, 9 * 1024 * 1024 + 17]) {
        const bytes = randomBytes(size);
        const key = blobKey("env_test", `fil_${size}`);
        // Through the upload path's own stream (multi-part on S3 past 5 MiB).
        const ingest = new Ingest(Number.MAX_SAFE_INTEGER, () => true);
        Readable.from([bytes.subarray(0, size >> 1), bytes.subarray(size >> 1)]).pipe(ingest);
        await store.put(key, ingest);
        expect(ingest.sha256).toBe(sha(bytes));
        expect(ingest.bytes).toBe(size);
        expect(await store.exists(key)).toBe(true);
        expect(sha(await readAll(await store.get(key)))).toBe(sha(bytes));
      }
    });

    it("reads inclusive ranges", async () => {
      const bytes = Buffer.from("0123456789");
      const key = blobKey("env_test", "fil_range");
      await store.put(key, Readable.from([bytes]));
      expect((await readAll(await store.get(key, { start: 2, end: 4 }))).toString()).toBe("234");
      expect((await readAll(await store.get(key, { start: 9, end: 9 }))).toString()).toBe("9");
    });

    it("answers BlobNotFound for a missing key, and deletes idempotently", async () => {
      const key = blobKey("env_test", "fil_missing");
      await expect(store.get(key)).rejects.toBeInstanceOf(BlobNotFound);
      expect(await store.exists(key)).toBe(false);
      await store.delete(key);
      await store.put(key, Readable.from([Buffer.from("x")]));
      await store.delete(key);
      await store.delete(key);
      expect(await store.exists(key)).toBe(false);
    });

    it("keeps nothing when the body fails mid-stream (a size limit), and reports the body's error", async () => {
      const key = blobKey("env_test", "fil_toolarge");
      const ingest = new Ingest(10 * 1024 * 1024, () => true);
      const source = Readable.from(
        (function* () {
          for (let i = 0; i < 20; i++) yield randomBytes(1024 * 1024);
        })(),
      );
      source.pipe(ingest);
      await expect(store.put(key, ingest)).rejects.toBeInstanceOf(TooLarge);
      expect(await store.exists(key)).toBe(false);
    });

    it("refuses keys that could escape the root", async () => {
      for (const bad of ["../x", "a/../../x", "/etc/passwd", "a\\b", "a/./b", "a\0b", "", ".", "a/.."]) {
        expect(() => checkKey(bad)).toThrow();
        await expect(store.put(bad, Readable.from([Buffer.from("x")]))).rejects.toThrow();
      }
    });
  });
}

behaves("local folder", async () => {
  const root = mkdtempSync(join(tmpdir(), "baseplate-blobs-"));
  return { store: new LocalBlobStore(root), done: async () => rmSync(root, { recursive: true, force: true }) };
});

behaves("S3-compatible (s3rver over HTTP)", async () => {
  const server: S3TestServer = await startS3Server();
  const store = new S3BlobStore({
    endpoint: server.endpoint,
    region: "us-east-1",
    bucket: server.bucket,
    prefix: "plane/",
    ...S3_TEST_CREDENTIALS,
    forcePathStyle: true,
    partSize: 5 * 1024 * 1024,
  });
  return {
    store,
    done: async () => {
      await store.close();
      await server.stop();
    },
  };
});

describe("LocalBlobStore", () => {
  it("leaves no temp file after a failed write, and sweeps stale ones", async () => {
    const root = mkdtempSync(join(tmpdir(), "baseplate-blobs-"));
    try {
      const store = new LocalBlobStore(root);
      const ingest = new Ingest(4, () => true);
      Readable.from([Buffer.from("0123456789")]).pipe(ingest);
      await expect(store.put(blobKey("env_a", "fil_a"), ingest)).rejects.toBeInstanceOf(TooLarge);
      expect(readdirSync(join(root, ".tmp"))).toEqual([]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
