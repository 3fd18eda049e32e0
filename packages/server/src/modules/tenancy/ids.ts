import { defineIds } from "../../platform/ids.js";

/**
 * tenancyIds are the ID kinds the tenancy module owns, declared as `ids` in its definition (the
 * composition root refuses a kind or prefix another module claims). NOTE: prefixes are public API.
 */
export const tenancyIds = defineIds({ project: "prj", environment: "env", surface: "srf", tenant: "ten" });

/** newId returns a new ID of one of tenancy's kinds (or the platform's, e.g. `request`). */
export const newId = tenancyIds.newId;
