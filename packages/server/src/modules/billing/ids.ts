import { defineIds } from "../../platform/ids.js";

/**
 * billingIds are the ID kinds the billing module owns, declared as `ids` in its definition (the
 * composition root refuses a kind or prefix another module claims). NOTE: prefixes are public API.
 */
export const billingIds = defineIds({
  plan: "pln",
  planVersion: "plv",
  subscription: "sub",
  invoice: "in",
  testClock: "tclk",
  payment: "pay",
  creditNote: "cn",
  creditWallet: "cwl",
  creditGrant: "cgr",
  creditHold: "chl",
  creditEntry: "cle",
});

/** newId returns a new ID of one of billing's kinds (or the platform's, e.g. `request`). */
export const newId = billingIds.newId;
