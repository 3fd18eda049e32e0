import { defineModule } from "../../platform/module.js";
import { BACKUP_FACTS } from "./facts.js";
import { backupsReview } from "./review.js";
import { backupsRoutes } from "./routes.js";
import { BackupsService, PLANE_VERSION, SCHEDULED_JOB } from "./service.js";

/**
 * The backups module: the plane backs itself up (database snapshot, local files and a manifest)
 * to a folder or an S3-compatible bucket, on demand (CLI, operator API) and on a schedule
 * (BASEPLATE_BACKUP_SCHEDULE, one process per slot through the job queue). Restoring is the CLI's
 * (`baseplate backup restore`): it never runs against a live plane. See docs/backups.md.
 */
export const backupsModule = defineModule({
  name: "backups",
  migrations: [],
  facts: BACKUP_FACTS,
  createService: (ctx) => new BackupsService(ctx),
  routes: (service) => backupsRoutes(service),
  review: (service) => backupsReview(service, PLANE_VERSION),
  jobs: (service) => [
    // One attempt more on a passing failure (a target briefly unreachable); the next slot comes anyway.
    { name: SCHEDULED_JOB, maxAttempts: 2, handler: () => service.scheduledBackup() },
  ],
  start: async (service) => service.startSchedule(),
});
