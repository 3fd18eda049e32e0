/** The usage module's public surface: other modules import only this file. */
export { UsageErrors } from "./errors.js";
export { isTimeZone, localParts, localToUtc } from "./internal/zones.js";
export { usageModule } from "./module.js";
export {
  type CheckResult,
  type Entitlement,
  type Hold,
  type IngestResult,
  type Meter,
  SetEntitlementInput,
  type UsageResult,
} from "./schemas.js";
export type { EntitlementStanding } from "./service/entitlements.js";
export { derivedEventId, type ReportInput } from "./service/ingest.js";
export type { UsageService } from "./service.js";
