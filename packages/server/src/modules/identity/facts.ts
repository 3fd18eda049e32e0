import { z } from "zod";
import { Timestamp } from "../../platform/http/schemas.js";
import type { FactDeclaration } from "../../platform/module.js";

const Changes = "`changes` holds the before/after values of the fields that changed.";
const Count = z.object({ count: z.number().int() });

/** IDENTITY_FACTS: the fact types the identity module records (listed in every environment's event catalog). */
export const IDENTITY_FACTS: Record<string, FactDeclaration> = {
  "user.created": {
    description: "An end user was created by the product's backend.",
    data: z.object({ email: z.string(), name: z.string().nullable(), passwordSet: z.boolean() }),
  },
  "user.signed_up": {
    description: "An end user signed up through a surface.",
    data: z.object({ email: z.string(), name: z.string().nullable(), passwordSet: z.boolean() }),
  },
  "user.updated": { description: `An end user's name, email or profile changed. ${Changes}` },
  "user.disabled": { description: `An end user was disabled; their sessions end. ${Changes}` },
  "user.enabled": { description: `A disabled end user was enabled again. ${Changes}` },
  "user.erased": {
    description:
      "An end user was erased: their row, sessions and memberships are gone, keys acting for them revoked, and their personal data in events and audit entries made unreadable.",
  },
  "user.logged_in": {
    description: "An end user logged in (`method`: password, magic_link, passkey, oidc, …; `aal`: 1 or 2).",
    data: z.object({ surfaceId: z.string(), method: z.string(), aal: z.number().int() }),
  },
  "user.logged_out": { description: "An end user logged out.", data: Count },
  "user.password_changed": { description: "An end user changed their password." },
  "user.password_reset": { description: "An end user reset their password with a reset token." },
  "user.password_reset_requested": {
    description: "A password reset token was issued for an end user.",
    data: z.object({ expiresAt: Timestamp }),
  },
  "user.email_verification_requested": {
    description: "A verification link was mailed to an end user (asked through `surfaceId`).",
    data: z.object({ surfaceId: z.string() }),
  },
  "user.email_verified": {
    description: "An end user proved its address (`method`: verify_email, magic_link, …).",
    data: z.object({ surfaceId: z.string(), method: z.string() }),
  },
  "user.magic_link_requested": {
    description: "A sign-in link was mailed to an end user.",
    data: z.object({ surfaceId: z.string(), expiresAt: Timestamp }),
  },
  "user.email_change_requested": {
    description:
      "A signed-in end user asked to change its address (a link went to the new one, a notice to the old one).",
    data: z.object({ surfaceId: z.string() }),
  },
  "user.email_changed": { description: `An end user confirmed a new address. ${Changes}` },
  "surface.mail_templates_updated": {
    description: "A surface's mail templates were set (`set`) or put back to the built-in ones (`reset`).",
    data: z.object({ set: z.array(z.string()), reset: z.array(z.string()) }),
  },
  "user.mfa_enrolled": {
    description: "An end user enrolled a second factor (`kind`: totp, …); recovery codes were issued.",
    data: z.object({ factorId: z.string(), kind: z.string(), recoveryCodes: z.number().int() }),
  },
  "user.mfa_removed": {
    description: "An end user removed a second factor (`remaining`: active factors left).",
    data: z.object({ factorId: z.string(), kind: z.string(), remaining: z.number().int() }),
  },
  "user.mfa_verified": {
    description:
      "An end user showed a second factor (`purpose`: sign_in, enroll or step_up; `method`: totp, recovery_code, …).",
    data: z.object({
      purpose: z.string(),
      method: z.string(),
      surfaceId: z.string(),
      recoveryCodesLeft: z.number().int().optional(),
    }),
  },
  "user.recovery_codes_regenerated": {
    description: "An end user replaced their recovery codes (the old ones stop working).",
    data: Count,
  },
  "session.revoked": { description: "A session was revoked.", data: Count },
  "session.revoked_all": { description: "Every session of a user was revoked.", data: Count },
  "session.revoked_others": { description: "Every other session of a user was revoked.", data: Count },
  "session.refresh_reused": {
    description:
      "A spent refresh token was presented again (a stolen copy, or two clients racing): its family and its session were revoked.",
    data: z.object({ familyId: z.string() }),
  },
  "signing_key.rotated": {
    description:
      "An environment's access-token signing key was rotated; the previous key stays in the JWKS until its tokens expired.",
    data: z.object({ kid: z.string(), alg: z.string(), previousKid: z.string().nullable() }),
  },
  "passkey.created": {
    description: "An end user registered a passkey (`rpId`, `aaguid` of the authenticator model, `backedUp`).",
    data: z.object({ rpId: z.string(), aaguid: z.string(), backedUp: z.boolean(), name: z.string() }),
  },
  "passkey.updated": { description: `An end user renamed a passkey. ${Changes}` },
  "passkey.deleted": { description: "An end user deleted a passkey; it signs in no more." },
  "passkey.clone_suspected": {
    description:
      "A passkey signed with a counter that did not increase: the authenticator may have been cloned. The sign-in was refused.",
    data: z.object({ storedCounter: z.number().int(), receivedCounter: z.number().int() }),
  },
  "secret_key.created": { description: "An environment secret key was created." },
  "secret_key.rotated": { description: "A secret key was rotated (the old one works for a grace period)." },
  "secret_key.revoked": { description: "A secret key was revoked." },
  "surface.auth_settings_updated": {
    description:
      "A surface's sign-in settings changed (`changes` by `section.field`; `signIn.password` is recorded as `signIn.passwordSignIn`).",
  },
  "operator.created": { description: "A plane operator account was created." },
  "operator.updated": { description: `A plane operator changed. ${Changes}` },
  "operator.disabled": { description: `A plane operator was disabled. ${Changes}` },
  "operator.logged_in": { description: "A plane operator logged in." },
  "operator.logged_out": { description: "A plane operator logged out." },
  "operator.mfa_enabled": {
    description: "A plane operator turned on two-factor sign-in (TOTP); recovery codes were issued.",
    data: z.object({ recoveryCodes: z.number().int() }),
  },
  "operator.mfa_disabled": { description: "A plane operator turned off two-factor sign-in, showing a code." },
  "operator.mfa_reset": {
    description: "An admin removed another operator's second factor (a lost device), with a reason.",
    data: z.object({ reason: z.string() }),
  },
  "operator.recovery_codes_replaced": {
    description: "A plane operator replaced its recovery codes, showing a code.",
    data: z.object({ recoveryCodes: z.number().int() }),
  },
  "operator_token.created": { description: "A plane operator API token was created." },
  "operator_token.revoked": { description: "A plane operator API token was revoked." },
};
