import type { Readable } from "node:stream";
import type { Config } from "../../config.js";
import type { ModuleContext } from "../../platform/module.js";
import type { BlobStore } from "./internal/blob-store.js";
import { LocalBlobStore } from "./internal/local-store.js";
import type { S3BlobStore, S3StoreOptions } from "./internal/s3-store.js";
import { BucketsService } from "./service/buckets.js";
import { FilesService } from "./service/files.js";
import { LifecycleService } from "./service/lifecycle.js";
import { UploadsService } from "./service/uploads.js";
import { UsageService } from "./service/usage.js";

/** StorageOptions: what tests and the benchmark replace (the blob store). */
export interface StorageOptions {
  store?: (config: Config) => BlobStore;
}

/** storeFor builds the configured blob store (`BASEPLATE_STORAGE_DRIVER`). */
export function storeFor(config: Config): BlobStore {
  const s = config.storage;
  return s.driver === "s3" ? new LazyS3BlobStore(s.s3) : new LocalBlobStore(s.dir);
}

/**
 * StorageService: buckets, files (upload, download, trash, signed URLs), usage and quotas, and the
 * lifecycle (purge, orphans, tenant purge), over one blob store.
 */
export class StorageService {
  /** context is the module's platform context (its manifest section guards and locks with it). */
  readonly context: ModuleContext;
  readonly store: BlobStore;
  readonly buckets: BucketsService;
  readonly files: FilesService;
  /** uploads: resumable (chunked) and direct (presigned PUT to S3) upload sessions. */
  readonly uploads: UploadsService;
  /**
   * usage: stored bytes and files per tenant and their quotas. A meter reads `usage.storedBytes`
   * and subscribes to changes with `usage.onChange((tx, change) => …)` (called in the writing
   * transaction).
   */
  readonly usage: UsageService;
  readonly lifecycle: LifecycleService;

  constructor(m: ModuleContext, options: StorageOptions = {}) {
    this.context = m;
    this.store = (options.store ?? storeFor)(m.config);
    this.buckets = new BucketsService(m);
    this.usage = new UsageService(m);
    this.files = new FilesService(m, this.store, this.buckets, this.usage);
    this.uploads = new UploadsService(m, this.store, this.buckets, this.usage);
    this.lifecycle = new LifecycleService(m, this.store, this.usage, this.uploads);
  }
}

/**
 * LazyS3BlobStore is the S3 driver loaded on first use: the AWS SDK is large, and a plane on the
 * local driver (the default) never loads it, at start or after.
 */
class LazyS3BlobStore implements BlobStore {
  readonly kind = "s3" as const;
  #store: Promise<S3BlobStore> | null = null;

  constructor(private readonly options: S3StoreOptions) {}

  #loaded(): Promise<S3BlobStore> {
    this.#store ??= import("./internal/s3-store.js").then((m) => new m.S3BlobStore(this.options));
    return this.#store;
  }

  async put(key: string, body: Readable): Promise<void> {
    return (await this.#loaded()).put(key, body);
  }
  async get(key: string, range?: { start: number; end: number }): Promise<Readable> {
    return (await this.#loaded()).get(key, range);
  }
  async delete(key: string): Promise<void> {
    return (await this.#loaded()).delete(key);
  }
  async exists(key: string): Promise<boolean> {
    return (await this.#loaded()).exists(key);
  }
  async sweep(olderThan: number, keep?: (handle: string) => Promise<boolean>): Promise<number> {
    return (await this.#loaded()).sweep(olderThan, keep);
  }
  async size(key: string): Promise<number | null> {
    return (await this.#loaded()).size(key);
  }
  readonly minChunkBytes = 5 * 1024 * 1024;
  async beginSession(key: string, sessionId: string): Promise<string> {
    return (await this.#loaded()).beginSession(key, sessionId);
  }
  async writeChunk(
    key: string,
    handle: string,
    chunk: { offset: number; part: number; length: number },
    body: Readable,
  ): Promise<string | null> {
    return (await this.#loaded()).writeChunk(key, handle, chunk, body);
  }
  async finishSession(key: string, handle: string, parts: ReadonlyArray<{ n: number; etag: string | null }>) {
    return (await this.#loaded()).finishSession(key, handle, parts);
  }
  async abortSession(key: string, handle: string): Promise<void> {
    return (await this.#loaded()).abortSession(key, handle);
  }
  async presignPut(key: string, o: { size: number; contentType: string; expiresInSeconds: number }) {
    return (await this.#loaded()).presignPut(key, o);
  }
  async close(): Promise<void> {
    if (this.#store) await (await this.#store).close();
  }
}
