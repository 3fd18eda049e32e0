import { defineErrors } from "../../platform/errors.js";

export const BackupErrors = defineErrors({
  backup_not_found: { status: 404, title: "Backup not found" },
  backup_in_progress: { status: 409, title: "A backup is already being taken by this process" },
  backup_tool_missing: { status: 503, title: "A tool the backup needs is not installed" },
  backup_target_failed: { status: 502, title: "The backup target could not be written or read" },
});
