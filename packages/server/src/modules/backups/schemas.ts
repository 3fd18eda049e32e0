import { z } from "zod";
import { paginationQuery } from "../../platform/http/pagination.js";
import { nameSchemas, Timestamp } from "../../platform/http/schemas.js";

/** Backup: one complete backup in the plane's backup target, as its manifest describes it. */
export const Backup = z.object({
  id: z.string().describe("The backup's name in its target (`backup-<time>-<random>`)."),
  location: z
    .string()
    .describe("Where it is: a folder, or `s3://bucket/prefix/<id>` (give it to `baseplate backup restore --from`)."),
  createdAt: Timestamp,
  snapshotAt: Timestamp.describe("When the database snapshot began: every write acknowledged before is in the backup."),
  planeVersion: z.string(),
  engine: z.enum(["sqlite", "postgres"]),
  lastMigration: z.string().nullable(),
  migrations: z.number().int().describe("How many migrations the backed-up database had applied."),
  storageDriver: z
    .enum(["local", "s3"])
    .describe("`local`: the files are in the backup; `s3`: they stay in the plane's bucket."),
  files: z.number().int().describe("Files of the local storage driver in the backup."),
  totalBytes: z.number().int(),
});
export type Backup = z.infer<typeof Backup>;

/** BackupVerification: whether every file of a backup matches the SHA-256 and size its manifest lists. */
export const BackupVerification = z.object({
  id: z.string(),
  ok: z.boolean(),
  files: z.number().int(),
  bytes: z.number().int(),
  problems: z.array(
    z.object({
      path: z.string(),
      kind: z.enum(["missing", "size_mismatch", "hash_mismatch", "unreadable"]),
      message: z.string(),
    }),
  ),
  verifiedAt: Timestamp,
});
export type BackupVerification = z.infer<typeof BackupVerification>;

/** CreateBackupInput: a backup to the configured target; `keep` prunes the oldest beyond it afterwards. */
export const CreateBackupInput = z.strictObject({
  keep: z
    .number()
    .int()
    .min(1)
    .max(100_000)
    .optional()
    .describe("Keep this many backups (the newest), deleting older ones. Default: BASEPLATE_BACKUP_KEEP (0: all)."),
});

export const ListBackupsQuery = paginationQuery.extend({});

nameSchemas({ Backup, BackupVerification, CreateBackupInput });
