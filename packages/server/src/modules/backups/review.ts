import type { ReviewContributor } from "../../platform/review.js";
import type { BackupsService } from "./service.js";

/** TARGET_TIMEOUT_MS bounds how long a report waits for the backup target (an S3 bucket may be away). */
const TARGET_TIMEOUT_MS = 5_000;

/**
 * The backups module's part of the review report: how the plane is backed up (schedule,
 * retention, the latest backup), and the plane's version and schema migrations. Where the backups
 * are kept is not shown (a location is an operator's concern, and a tenant's reviewer gets the
 * same part).
 */
export function backupsReview(service: BackupsService, version: string): ReviewContributor[] {
  return [
    {
      name: "backups.plane",
      topic: "operations",
      async collect() {
        const config = service.context.config.backups;
        const migrations = await service.appliedMigrations();
        let latest: { createdAt: string; snapshotAt: string } | null = null;
        let readable = true;
        try {
          const target = service.target();
          const ids = await within(target.ids(), TARGET_TIMEOUT_MS);
          const id = ids.at(-1);
          const manifest = id ? await within(target.manifest(id), TARGET_TIMEOUT_MS) : null;
          latest = manifest ? { createdAt: manifest.createdAt, snapshotAt: manifest.snapshotAt } : null;
        } catch {
          readable = false;
        }
        const engine = service.context.db.engine;
        return {
          title: "Backups, version and migrations",
          blocks: [
            {
              kind: "text",
              text:
                engine === "sqlite"
                  ? "The plane backs itself up: an online, consistent snapshot of its database and local files (every write acknowledged before the snapshot is in it), to a folder or an S3-compatible store, checked file by file on restore. The master key is never in a backup."
                  : "The plane backs itself up with pg_dump (a consistent snapshot) and its local files, to a folder or an S3-compatible store, checked file by file on restore. The master key is never in a backup.",
            },
            {
              kind: "facts",
              items: [
                { label: "Scheduled backups", value: config.schedule ? `${config.schedule} (cron, UTC)` : "off" },
                { label: "Backups kept", value: config.keep === 0 ? "all" : config.keep },
                { label: "Target", value: config.target.startsWith("s3://") ? "S3-compatible store" : "folder" },
                {
                  label: "Latest backup",
                  value: readable ? (latest?.createdAt ?? "none yet") : "the target could not be read",
                },
                { label: "…its snapshot time", value: latest?.snapshotAt ?? null },
                { label: "Plane version", value: version },
                { label: "Database engine", value: engine },
                { label: "Schema migrations applied", value: migrations.length },
                { label: "…the latest", value: migrations.at(-1) ?? null },
              ],
            },
          ],
          figures: {
            "backups.scheduled": config.schedule !== null,
            "backups.latest": latest?.createdAt ?? null,
            "migrations.applied": migrations.length,
          },
        };
      },
    },
  ];
}

function within<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error("timed out")), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
