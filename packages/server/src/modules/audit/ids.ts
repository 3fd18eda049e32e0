import { defineIds } from "../../platform/ids.js";

/**
 * auditIds are the ID kinds the audit module owns, declared as `ids` in its definition (the
 * composition root refuses a kind or prefix another module claims). NOTE: prefixes are public API.
 */
export const auditIds = defineIds({ auditEntry: "aud", auditCheckpoint: "ack", auditSchema: "asc" });

/** newId returns a new ID of one of audit's kinds (or the platform's, e.g. `request`). */
export const newId = auditIds.newId;
