import { z } from "zod";
import { pageSchema } from "../../platform/http/pagination.js";
import { AUTH, defineRoute, type RouteDefinition } from "../../platform/http/route.js";
import { Id } from "../../platform/http/schemas.js";
import { BackupErrors } from "./errors.js";
import { Backup, BackupVerification, CreateBackupInput, ListBackupsQuery } from "./schemas.js";
import type { BackupsService } from "./service.js";

export function backupsRoutes(s: BackupsService): RouteDefinition[] {
  const backupParams = z.strictObject({ backupId: Id });
  return [
    defineRoute({
      method: "POST",
      url: "/v1/operator/backups",
      operationId: "createBackup",
      summary: "Back the plane up now (admin only)",
      description:
        "Takes a consistent backup (database snapshot, local files, manifest with SHA-256 of every file) to the " +
        "configured target (BASEPLATE_BACKUP_TARGET), then deletes the oldest beyond `keep`. The master key is " +
        "never in a backup. Answers when the backup is published.",
      tags: ["Backups"],
      auth: AUTH.operator,
      body: CreateBackupInput,
      response: { status: 201, schema: Backup, description: "The new backup." },
      errors: [BackupErrors.backup_in_progress, BackupErrors.backup_tool_missing],
      handler: ({ ctx, body }) => s.createBackup(ctx, body),
    }),
    defineRoute({
      method: "GET",
      url: "/v1/operator/backups",
      operationId: "listBackups",
      summary: "List the plane's backups, newest first",
      tags: ["Backups"],
      auth: AUTH.operator,
      query: ListBackupsQuery,
      response: { status: 200, schema: pageSchema(Backup), description: "A page of backups." },
      handler: ({ ctx, query }) => s.listBackups(ctx, query),
    }),
    defineRoute({
      method: "GET",
      url: "/v1/operator/backups/:backupId",
      operationId: "getBackup",
      summary: "Get a backup",
      tags: ["Backups"],
      auth: AUTH.operator,
      params: backupParams,
      response: { status: 200, schema: Backup, description: "The backup." },
      errors: [BackupErrors.backup_not_found],
      handler: ({ ctx, params }) => s.findBackupById(ctx, params.backupId),
    }),
    defineRoute({
      method: "GET",
      url: "/v1/operator/backups/:backupId/verification",
      operationId: "verifyBackup",
      summary: "Verify a backup against its manifest (nothing is restored)",
      description: "Reads every file of the backup and compares its size and SHA-256 with the manifest.",
      tags: ["Backups"],
      auth: AUTH.operator,
      params: backupParams,
      response: { status: 200, schema: BackupVerification, description: "What matches and what does not." },
      errors: [BackupErrors.backup_not_found],
      handler: ({ ctx, params }) => s.verifyBackup(ctx, params.backupId),
    }),
  ];
}
