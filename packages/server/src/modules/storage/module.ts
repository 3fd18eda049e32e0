import { randomUUID } from "node:crypto";
import { z } from "zod";
import { Timestamp } from "../../platform/http/schemas.js";
import { defineModule } from "../../platform/module.js";
import { tenancyModule } from "../tenancy/index.js";
import { usageModule } from "../usage/index.js";
import { storageIds } from "./ids.js";
import { bucketsSection } from "./manifest.js";
import { migration as core } from "./migrations/202612062000_storage_core.js";
import { migration as uploads } from "./migrations/202612121430_storage_uploads.js";
import { migration as trashReason } from "./migrations/202612121440_storage_trash_reason.js";
import { storageRoutes } from "./routes.js";
import { PURGE_JOB, PURGE_TENANT_JOB, SYNC_TENANT_JOB } from "./service/lifecycle.js";
import { type StorageOptions, StorageService } from "./service.js";

/** STORED_USAGE_TYPE: the usage event type storage reports on every change of a tenant's stored bytes. */
export const STORED_USAGE_TYPE = "storage.stored";

/** storageModuleWith builds the module with options (tests and the benchmark choose the blob store). */
export function storageModuleWith(options: StorageOptions = {}) {
  return defineModule({
    name: "storage",
    dependsOn: { tenancy: tenancyModule, usage: usageModule },
    migrations: [core, uploads, trashReason],
    ids: storageIds.prefixes,
    permissions: { files: ["read", "write", "delete"] },
    roleGrants: { admin: { files: "*" }, member: { files: ["read", "write"] } },
    sealedColumns: [{ table: "storage_signing_key", column: "secret" }],
    createService: (ctx) => new StorageService(ctx, options),
    routes: (service) => storageRoutes(service),
    manifest: (service) => [bucketsSection(service)],
    facts: {
      "storage_bucket.created": {
        description: "A storage bucket was created (its policy: allowed types, largest file, public).",
        data: z.object({
          name: z.string(),
          allowedTypes: z.array(z.string()),
          maxFileBytes: z.number().int(),
          public: z.boolean(),
        }),
      },
      "storage_bucket.updated": { description: "A bucket's policy changed (`changes`: before/after)." },
      "storage_bucket.deleted": { description: "An empty bucket was deleted.", data: z.object({ name: z.string() }) },
      "file.uploaded": {
        description: "A file was uploaded (type sniffed from its bytes, SHA-256 computed while streaming).",
        data: z.object({
          bucketId: z.string(),
          name: z.string(),
          contentType: z.string(),
          size: z.number().int(),
          sha256: z.string(),
          ref: z.string().nullable(),
        }),
      },
      "file.updated": { description: "A file's name, ref or metadata changed (`changes`: before/after)." },
      "file.deleted": {
        description:
          "A file moved to the trash: on request, past its bucket's retention, or with its tenant (`tenant_purged`).",
        data: z.object({ reason: z.string(), purgeAt: Timestamp }),
      },
      "file.restored": { description: "A file was taken out of the trash." },
      "file.purged": {
        description: "A trashed file's bytes and record were deleted for good.",
        data: z.object({ size: z.number().int() }),
      },
      "file.upload_abandoned": {
        description: "An upload that never committed (the process stopped mid-upload) was collected with its bytes.",
      },
      "file.shared": {
        description: "A signed download URL was issued for a file.",
        data: z.object({ expiresAt: Timestamp, disposition: z.string() }),
      },
      "storage_upload.created": {
        description:
          "An upload session was opened: resumable (chunks through the plane) or direct (a presigned PUT to S3).",
        data: z.object({
          bucketId: z.string(),
          kind: z.enum(["resumable", "direct"]),
          size: z.number().int(),
          expiresAt: Timestamp,
        }),
      },
      "storage_upload.discarded": {
        description:
          "An upload session was deleted with its bytes: cancelled, expired, its tenant purged, or refused at completion (`checksum_mismatch`, `size_mismatch`, `type_refused`, `quota_exceeded`, `bucket_deleted`).",
        data: z.object({ reason: z.string(), received: z.number().int() }),
      },
      "storage_quota.updated": { description: "A tenant's storage quota changed (`changes`: before/after)." },
    },
    factSinks: (service) => [{ name: "storage.tenant_purge", sink: (tx, fact) => service.lifecycle.onFact(tx, fact) }],
    jobs: (service) => [
      { name: PURGE_JOB, maxAttempts: 3, handler: async () => void (await service.lifecycle.purge()) },
      // `storage.purge_tenant` was queued by deactivations before `storage.sync_tenant` existed; such a
      // job left in a queue converges like the new one (trash, restorable), never purges at once.
      ...[PURGE_TENANT_JOB, SYNC_TENANT_JOB].map((name) => ({
        name,
        maxAttempts: 20,
        handler: async (payload: unknown) =>
          void (await service.lifecycle.syncTenant(payload as { environmentId: string; tenantId: string })),
      })),
    ],
    schedules: { [PURGE_JOB]: "*/10 * * * *" },
    // Stored bytes are a meter: every committed change reports a `storage.stored` usage event in the
    // same transaction (data: the tenant's totals after it and the deltas), so a meter on that type
    // (`latest` of `bytes`, `max` of `bytes`, `sum` of `bytesDelta`) bills storage exactly.
    connect: (service, { usage, tenancy }) => {
      service.lifecycle.tenantState = (environmentId, tenantId) => tenancy.tenants.tenantState(environmentId, tenantId);
      service.usage.onChange(async (tx, change) => {
        if (change.tenantId === null) return;
        await usage.report(
          {
            environmentId: change.environmentId,
            tenantId: change.tenantId,
            id: `storage:${randomUUID()}`,
            type: STORED_USAGE_TYPE,
            source: "storage",
            data: {
              bytes: change.bytes,
              files: change.files,
              bytesDelta: change.bytesDelta,
              filesDelta: change.filesDelta,
            },
          },
          tx,
        );
      });
    },
    stop: async (service) => service.store.close(),
  });
}

export const storageModule = storageModuleWith();
