import { defineIds } from "../../platform/ids.js";

/**
 * ssoIds are the ID kinds the sso module owns, declared as `ids` in its definition.
 * NOTE: prefixes are public API.
 */
export const ssoIds = defineIds({
  oidcProvider: "idp",
  oidcLogin: "oidl",
  userIdentity: "idn",
  ssoDomain: "dom",
});

/** newId returns a new ID of one of sso's kinds (or the platform's). */
export const newId = ssoIds.newId;
