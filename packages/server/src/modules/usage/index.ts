/** The usage module's public surface: other modules import only this file. */
export { UsageErrors } from "./errors.js";
export { usageModule } from "./module.js";
export type { CheckResult, Entitlement, Hold, IngestResult, Meter, UsageResult } from "./schemas.js";
export { derivedEventId, type ReportInput } from "./service/ingest.js";
export type { UsageService } from "./service.js";
