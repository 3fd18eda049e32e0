import { z } from "zod";
import type { FactDeclaration } from "../../platform/module.js";

/** BACKUP_FACTS: the backups module's facts, all on the plane's audit chain. */
export const BACKUP_FACTS: Readonly<Record<string, FactDeclaration>> = {
  "backup.created": {
    description:
      "A backup of the plane was taken (by an operator, the CLI or the schedule) and published to its target.",
    data: z.object({
      target: z.string(),
      engine: z.enum(["sqlite", "postgres"]),
      files: z.number().int(),
      totalBytes: z.number().int(),
      snapshotAt: z.string(),
      lastMigration: z.string().nullable(),
      scheduled: z.boolean(),
    }),
  },
  "backup.deleted": {
    description: "A backup was deleted from its target by retention (`keep`).",
    data: z.object({ target: z.string(), reason: z.literal("retention") }),
  },
};
