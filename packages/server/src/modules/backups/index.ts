/** The backups module's public surface: other code imports only this file. */
export { BackupErrors } from "./errors.js";
export { BACKUP_ID, DATABASE_FILES, MANIFEST_FILE, type Manifest } from "./internal/manifest.js";
export { findTool, PgToolMissing } from "./internal/pg-tools.js";
export { RestoreRefused, type RestoreRequest, type RestoreResult, restoreBackup } from "./internal/restore.js";
export type { BackupProgress } from "./internal/snapshot.js";
export { type BackupTarget, openTarget, splitBackupLocation } from "./internal/targets.js";
export { type BackupCheck, checkBackup, type VerifyProblem } from "./internal/verify.js";
export { backupsModule } from "./module.js";
export type { Backup, BackupVerification } from "./schemas.js";
export { type BackupRun, BackupsService, type BackupTaken, SCHEDULED_JOB } from "./service.js";
