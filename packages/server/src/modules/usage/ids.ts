import { defineIds } from "../../platform/ids.js";

/**
 * usageIds are the ID kinds the usage module owns, declared as `ids` in its definition (the
 * composition root refuses a kind or prefix another module claims). NOTE: prefixes are public API.
 */
export const usageIds = defineIds({ meter: "mtr", entitlement: "ent", hold: "hld" });

/** newId returns a new ID of one of usage's kinds (or the platform's, e.g. `request`). */
export const newId = usageIds.newId;
