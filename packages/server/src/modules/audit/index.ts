/** The audit module's public surface: other modules import only this file. */
export { AuditErrors } from "./errors.js";
export * as auditFormat from "./format.js";
export { auditIds } from "./ids.js";
export { entryOfRow } from "./internal/entry-of-row.js";
export { auditModule } from "./module.js";
export type { AuditEntry, Checkpoint } from "./schemas.js";
export { ENTRY_COLUMNS, entryRow } from "./service/chains.js";
export type { AuditService } from "./service.js";
export type { AuditEntryTable } from "./tables.js";
export { ChainVerifier, type VerificationResult, verifyExportLines } from "./verifier.js";
export { type ParallelOptions, verifyExportFile } from "./verify-threads.js";
