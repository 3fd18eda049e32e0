import type { Config } from "../../config.js";
import type { ModuleContext } from "../../platform/module.js";
import type { BlobStore } from "./internal/blob-store.js";
import { LocalBlobStore } from "./internal/local-store.js";
import { S3BlobStore } from "./internal/s3-store.js";
import { BucketsService } from "./service/buckets.js";
import { FilesService } from "./service/files.js";
import { LifecycleService } from "./service/lifecycle.js";
import { UsageService } from "./service/usage.js";

/** StorageOptions: what tests and the benchmark replace (the blob store). */
export interface StorageOptions {
  store?: (config: Config) => BlobStore;
}

/** storeFor builds the configured blob store (`BASEPLATE_STORAGE_DRIVER`). */
export function storeFor(config: Config): BlobStore {
  const s = config.storage;
  return s.driver === "s3" ? new S3BlobStore(s.s3) : new LocalBlobStore(s.dir);
}

/**
 * StorageService: buckets, files (upload, download, trash, signed URLs), usage and quotas, and the
 * lifecycle (purge, orphans, tenant purge), over one blob store.
 */
export class StorageService {
  readonly store: BlobStore;
  readonly buckets: BucketsService;
  readonly files: FilesService;
  /**
   * usage: stored bytes and files per tenant and their quotas. A meter reads `usage.storedBytes`
   * and subscribes to changes with `usage.onChange((tx, change) => …)` (called in the writing
   * transaction).
   */
  readonly usage: UsageService;
  readonly lifecycle: LifecycleService;

  constructor(m: ModuleContext, options: StorageOptions = {}) {
    this.store = (options.store ?? storeFor)(m.config);
    this.buckets = new BucketsService(m);
    this.usage = new UsageService(m);
    this.files = new FilesService(m, this.store, this.buckets, this.usage);
    this.lifecycle = new LifecycleService(m, this.store, this.usage);
  }
}
