import { defineIds } from "../../platform/ids.js";

/** portalIds are the ID kinds the portal module owns. NOTE: prefixes are public API. */
export const portalIds = defineIds({
  portalLink: "ptl",
  portalSession: "pts",
});

/** newId returns a new ID of one of the portal's kinds (or the platform's, e.g. `request`). */
export const newId = portalIds.newId;

/** TOKEN_PREFIX: the portal's tokens (kind prefix + checksum, shown once, stored hashed). */
export const TOKEN_PREFIX = {
  /** link: the one-time token of a portal link (exchanged, never a bearer credential). */
  link: "bp_pl_",
  /** session: the bearer token of a portal session. */
  session: "bp_ps_",
} as const;
