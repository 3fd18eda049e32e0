import { z } from "zod";
import {
  type ManifestAffected,
  type ManifestAssessment,
  type ManifestDiff,
  type ManifestRisk,
  type ManifestSection,
  plural,
  sortedSet,
} from "../../platform/manifest.js";
import { typeAllowed } from "./internal/sniff.js";
import { CreateBucketInput } from "./schemas.js";
import type { BucketContents } from "./service/buckets.js";
import type { StorageService } from "./service.js";

/** BucketItem is a bucket as the manifest declares it, named by its name (unique in an environment). */
export const BucketItem = z.strictObject({
  ...CreateBucketInput.shape,
  name: CreateBucketInput.shape.name.describe(
    "The bucket's name: the manifest's key for it (a bucket is never renamed: another name is another bucket).",
  ),
  allowedTypes: CreateBucketInput.shape.allowedTypes.describe(
    "Media types the bytes of its files may be (sniffed, not declared): `image/png`, `image/*`, `*` (any).",
  ),
  maxFileBytes: CreateBucketInput.shape.maxFileBytes.describe("The largest file it accepts, in bytes."),
  public: CreateBucketInput.shape.public.describe(
    "Whether its files are readable by anyone with their URL (`/v1/storage/public/…`).",
  ),
  retentionDays: CreateBucketInput.shape.retentionDays.describe(
    "Files move to the trash this many days after upload (null: kept until deleted).",
  ),
});
export type BucketItem = z.infer<typeof BucketItem>;

const DAY_MS = 86_400_000;
const RANK: Record<ManifestRisk, number> = { additive: 0, behaviour: 1, destructive: 2 };
const quote = (values: readonly string[]) => values.map((v) => `\`${v}\``).join(", ");
const bytes = (n: number) => (n % 1024 ** 2 === 0 ? `${n / 1024 ** 2} MiB` : `${n} bytes`);
const days = (d: number | null) => (d === null ? "forever" : `${d} days`);

/**
 * bucketsSection: the environment's storage buckets and their policies. A policy change applies to
 * later uploads and stored files stay (as the API does), so most changes are behaviour; it is
 * destructive when stored files are lost to someone: a public bucket made private (their public
 * URLs stop) or a retention shortened (they go to the trash sooner). A bucket that holds files,
 * trashed ones included, is not deleted (the API refuses it): the change is blocked.
 */
export function bucketsSection(service: StorageService): ManifestSection<BucketItem> {
  const buckets = service.buckets;
  const m = service.context;
  return {
    name: "buckets",
    description:
      "Storage buckets and the policy of their files: allowed types, largest file, public access, retention.",
    item: BucketItem,
    keyOf: (b) => b.name,
    normalize: (b) => ({ ...b, allowedTypes: sortedSet(b.allowedTypes), retentionDays: b.retentionDays ?? null }),
    guard: (ctx, mode) => void m.access.environment(ctx, mode === "read" ? "files:read" : "files:write"),
    lock: (tx) => m.db.lockTable(tx, "storage_bucket"),
    live: async (environmentId, tx) =>
      (await buckets.liveBuckets(environmentId, tx)).map((b) => ({
        name: b.name,
        allowedTypes: b.allowedTypes,
        maxFileBytes: b.maxFileBytes,
        public: b.public,
        retentionDays: b.retentionDays,
      })),
    async assess(environmentId, diff, tx): Promise<ManifestAssessment> {
      const key = `\`${diff.key}\``;
      if (diff.action === "create") {
        const after = diff.after as BucketItem;
        return {
          risk: "additive",
          summary: `Adds ${after.public ? "public" : "private"} bucket ${key} (files up to ${bytes(after.maxFileBytes)} of ${quote(after.allowedTypes)}).`,
          affected: [],
          blocked: null,
        };
      }
      const bucket = await buckets.bucketNamed(environmentId, diff.key, tx);
      const held = await buckets.contents(bucket.id, tx);
      if (diff.action === "delete") return assessDelete(key, held);
      return assessUpdate(key, diff, held, (where) => buckets.activeFilesWhere(bucket.id, where, tx), m.clock.now());
    },
    async apply(tx, ctx, environmentId, diff) {
      if (diff.action === "create") {
        await buckets.insertBucket(tx, ctx, environmentId, diff.after as BucketItem);
        return;
      }
      const bucket = await buckets.bucketNamed(environmentId, diff.key, tx);
      if (diff.action === "delete") {
        // The API deletes buckets with `files:delete`, more than the section's `files:write`.
        m.access.environment(ctx, "files:delete");
        await buckets.removeBucket(tx, ctx, environmentId, bucket.id);
        return;
      }
      const after = diff.after as BucketItem;
      await buckets.changeBucket(tx, ctx, environmentId, bucket.id, {
        allowedTypes: after.allowedTypes,
        maxFileBytes: after.maxFileBytes,
        public: after.public,
        retentionDays: after.retentionDays,
      });
    },
  };
}

function assessDelete(key: string, held: BucketContents): ManifestAssessment {
  const summary = `Deletes bucket ${key}: uploads into it are refused.`;
  if (held.files > 0) {
    const trashed = held.files - held.active;
    return {
      risk: "destructive",
      summary,
      affected: [
        { count: held.files, what: `files stored in bucket ${key} (${trashed} in the trash or uploading)` },
        { count: held.bytes, what: `bytes stored in bucket ${key}` },
      ],
      blocked: `Bucket ${key} holds ${plural(held.files, "file")} (${held.bytes} bytes), counting the trash until it is purged: delete its files and let the trash be purged before deleting it, or keep it in the manifest.`,
    };
  }
  if (held.openUploads > 0) {
    return {
      risk: "destructive",
      summary: `${summary} Open upload sessions into it are refused at completion and their bytes deleted.`,
      affected: [{ count: held.openUploads, what: `open upload sessions into bucket ${key}` }],
      blocked: null,
    };
  }
  return { risk: "behaviour", summary, affected: [], blocked: null };
}

type ActiveFilesWhere = (where: { largerThan?: number; createdBefore?: number }) => Promise<number>;

async function assessUpdate(
  key: string,
  diff: ManifestDiff<BucketItem>,
  held: BucketContents,
  activeFilesWhere: ActiveFilesWhere,
  now: number,
): Promise<ManifestAssessment> {
  const before = diff.before as BucketItem;
  const after = diff.after as BucketItem;
  const parts: string[] = [];
  const affected: ManifestAffected[] = [];
  let risk: ManifestRisk = "additive";
  const raise = (r: ManifestRisk) => {
    if (RANK[r] > RANK[risk]) risk = r;
  };
  const inBucket = `of bucket ${key}`;

  if (before.public !== after.public) {
    if (after.public) {
      parts.push("makes its files readable by anyone with their URL");
      raise("behaviour");
      if (held.active > 0) affected.push({ count: held.active, what: `files ${inBucket} become public` });
    } else {
      parts.push("makes it private: its files' public URLs stop answering");
      raise(held.active > 0 ? "destructive" : "behaviour");
      if (held.active > 0) affected.push({ count: held.active, what: `files ${inBucket} no longer served publicly` });
    }
  }

  const removed = before.allowedTypes.filter((t) => !typeAllowed(t, after.allowedTypes));
  const added = after.allowedTypes.filter((t) => !typeAllowed(t, before.allowedTypes));
  if (removed.length > 0) {
    parts.push(`stops accepting ${quote(removed)}`);
    raise("behaviour");
    const refused = Object.entries(held.byType)
      .filter(([type]) => !typeAllowed(type, after.allowedTypes))
      .reduce((n, [, count]) => n + count, 0);
    if (refused > 0) {
      affected.push({ count: refused, what: `files ${inBucket} of a type no longer accepted (they stay)` });
    }
  }
  if (added.length > 0) {
    parts.push(`accepts ${quote(added)}`);
    raise("behaviour");
  }

  if (after.maxFileBytes < before.maxFileBytes) {
    parts.push(`lowers its largest file to ${bytes(after.maxFileBytes)}`);
    raise("behaviour");
    const larger = held.active > 0 ? await activeFilesWhere({ largerThan: after.maxFileBytes }) : 0;
    if (larger > 0) affected.push({ count: larger, what: `files ${inBucket} larger than the new limit (they stay)` });
  } else if (after.maxFileBytes > before.maxFileBytes) {
    parts.push(`raises its largest file to ${bytes(after.maxFileBytes)}`);
    raise("behaviour");
  }

  const keptBefore = before.retentionDays ?? Number.POSITIVE_INFINITY;
  const keptAfter = after.retentionDays ?? Number.POSITIVE_INFINITY;
  if (keptAfter < keptBefore) {
    parts.push(`keeps files ${days(after.retentionDays)} instead of ${days(before.retentionDays)}`);
    raise(held.active > 0 ? "destructive" : "behaviour");
    const due =
      held.active > 0 ? await activeFilesWhere({ createdBefore: now - (after.retentionDays as number) * DAY_MS }) : 0;
    if (due > 0)
      affected.push({ count: due, what: `files ${inBucket} past the new retention, trashed at the next purge` });
    if (held.active > due) {
      affected.push({ count: held.active - due, what: `other files ${inBucket}, trashed sooner than before` });
    }
  } else if (keptAfter > keptBefore) {
    parts.push(`keeps files ${days(after.retentionDays)} instead of ${days(before.retentionDays)}`);
    raise("behaviour");
  }

  if (parts.length === 0) parts.push("rewrites its allowed types without changing what it accepts");
  return { risk, summary: `Bucket ${key}: ${parts.join("; ")}.`, affected, blocked: null };
}
