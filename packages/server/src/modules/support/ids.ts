import { defineIds } from "../../platform/ids.js";

/**
 * supportIds are the ID kinds the support module owns, declared as `ids` in its definition (the
 * composition root refuses a kind or prefix another module claims). NOTE: prefixes are public API.
 */
export const supportIds = defineIds({ supportAccess: "sac" });

/** newId returns a new ID of one of support's kinds (or the platform's, e.g. `request`). */
export const newId = supportIds.newId;
