import { z } from "zod";
import { EmailSettings } from "./email.js";
import { MfaSettings } from "./mfa.js";
import { PasskeySettings } from "./passkeys.js";
import { SignInSettings } from "./sign-in.js";
import { TokenSettings } from "./tokens.js";

/**
 * AuthSettings: a surface's sign-in settings, one document per surface (table `surface_auth`).
 * Every section has defaults, so a surface never configured reads as the defaults.
 */
export const AuthSettings = z.strictObject({
  signIn: SignInSettings.prefault({}),
  email: EmailSettings.prefault({}),
  mfa: MfaSettings.prefault({}),
  passkeys: PasskeySettings.prefault({}),
  tokens: TokenSettings.prefault({}),
});
export type AuthSettings = z.infer<typeof AuthSettings>;

/** patchOf: a section's fields, each optional and without its default (a field left out is kept). */
function patchOf<S extends z.ZodRawShape>(section: z.ZodObject<S>) {
  const shape = Object.fromEntries(
    Object.entries(section.shape).map(([key, value]) => {
      const field = value as z.ZodType;
      const bare = field instanceof z.ZodDefault ? (field.unwrap() as z.ZodType) : field;
      const described = field.description ? bare.describe(field.description) : bare;
      return [key, described.optional()];
    }),
  );
  return z.strictObject(shape);
}

/** AuthSettingsPatch: sections to change; fields left out keep their value. */
export const AuthSettingsPatch = z.strictObject({
  signIn: patchOf(SignInSettings).optional(),
  email: patchOf(EmailSettings).optional(),
  mfa: patchOf(MfaSettings).optional(),
  passkeys: patchOf(PasskeySettings).optional(),
  tokens: patchOf(TokenSettings).optional(),
});
export type AuthSettingsPatch = z.infer<typeof AuthSettingsPatch>;

export const DEFAULT_AUTH_SETTINGS: AuthSettings = AuthSettings.parse({});

/** mergeAuthSettings applies a patch section by section (fields left out keep their value). */
export function mergeAuthSettings(current: AuthSettings, patch: AuthSettingsPatch): AuthSettings {
  const next: Record<string, unknown> = { ...current };
  for (const [section, fields] of Object.entries(patch)) {
    if (fields) next[section] = { ...(current as Record<string, object>)[section], ...fields };
  }
  return AuthSettings.parse(next);
}
