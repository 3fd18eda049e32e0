/** The storage module's public surface: other modules import only this file. */
export { StorageErrors } from "./errors.js";
export type { BlobStore } from "./internal/blob-store.js";
export { LocalBlobStore } from "./internal/local-store.js";
export type { S3StoreOptions } from "./internal/s3-store.js";
export { storageModule, storageModuleWith } from "./module.js";
export type { Bucket, StoredFile, Usage } from "./schemas.js";
export type { PurgeReport } from "./service/lifecycle.js";
export type { StoredBytesChange, StoredBytesListener } from "./service/usage.js";
export type { StorageOptions, StorageService } from "./service.js";
