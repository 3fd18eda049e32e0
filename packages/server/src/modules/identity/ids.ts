import { defineIds } from "../../platform/ids.js";

/**
 * identityIds are the ID kinds the identity module owns, declared as `ids` in its definition (the
 * composition root refuses a kind or prefix another module claims). NOTE: prefixes are public API.
 */
export const identityIds = defineIds({
  operator: "opr",
  operatorToken: "otk",
  user: "usr",
  session: "ses",
  passwordReset: "prt",
  secretKey: "key",
  signingKey: "sgk",
  refreshToken: "rtk",
  passkey: "psk",
  passkeyChallenge: "pch",
  mail: "mail",
  emailToken: "etk",
  mfaFactor: "mfa",
  mfaChallenge: "mfc",
  recoveryCode: "rcc",
});

/** newId returns a new ID of one of identity's kinds (or the platform's, e.g. `request`). */
export const newId = identityIds.newId;
