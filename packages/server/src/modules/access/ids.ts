import { defineIds } from "../../platform/ids.js";

/**
 * accessIds are the ID kinds the access module owns, declared as `ids` in its definition (the
 * composition root refuses a kind or prefix another module claims). NOTE: prefixes are public API.
 */
export const accessIds = defineIds({
  role: "rol",
  membership: "mem",
  invitation: "inv",
  tenantKey: "tky",
  agentKey: "agk",
});

/** newId returns a new ID of one of access's kinds (or the platform's, e.g. `request`). */
export const newId = accessIds.newId;
