import { z } from "zod";
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
  "user.logged_in": {
    description: "An end user logged in (`method`: password, magic_link, passkey, oidc, …; `aal`: 1 or 2).",
    data: z.object({ surfaceId: z.string(), method: z.string(), aal: z.number().int() }),
  },
  "user.logged_out": { description: "An end user logged out.", data: Count },
  "user.password_changed": { description: "An end user changed their password." },
  "user.password_reset": { description: "An end user reset their password with a reset token." },
  "user.password_reset_requested": {
    description: "A password reset token was issued for an end user.",
    data: z.object({ expiresAt: z.number().int() }),
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
  "secret_key.created": { description: "An environment secret key was created." },
  "secret_key.rotated": { description: "A secret key was rotated (the old one works for a grace period)." },
  "secret_key.revoked": { description: "A secret key was revoked." },
  "surface.auth_settings_updated": {
    description: "A surface's sign-in settings changed (`changes` by `section.field`).",
  },
  "operator.created": { description: "A plane operator account was created." },
  "operator.updated": { description: `A plane operator changed. ${Changes}` },
  "operator.disabled": { description: `A plane operator was disabled. ${Changes}` },
  "operator.logged_in": { description: "A plane operator logged in." },
  "operator.logged_out": { description: "A plane operator logged out." },
  "operator_token.created": { description: "A plane operator API token was created." },
  "operator_token.revoked": { description: "A plane operator API token was revoked." },
};
