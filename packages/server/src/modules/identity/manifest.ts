import { z } from "zod";
import { canonicalJson } from "../../platform/canonical-json.js";
import type { Tx } from "../../platform/db/db.js";
import { AppError } from "../../platform/errors.js";
import type { ManifestAffected, ManifestAssessment, ManifestRisk, ManifestSection } from "../../platform/manifest.js";
import { type Surface, TenancyErrors } from "../tenancy/index.js";
import { AuthSettings, DEFAULT_AUTH_SETTINGS } from "./internal/settings/index.js";
import { relyingPartyOf } from "./internal/webauthn.js";
import type { IdentityService } from "./service.js";

/**
 * SignInItem is a surface's sign-in settings as the manifest declares them, named by the surface's
 * name (the key of the tenancy module's `surfaces` section). Sections and fields left out take
 * their defaults, as a surface never configured has them.
 */
export const SignInItem = z.strictObject({
  // NOTE: the tenancy module's surface name (trimmed, 1–200 characters); it is not exported to modules.
  surface: z
    .string()
    .trim()
    .min(1)
    .max(200)
    .describe("The surface's name, as the `surfaces` section names it: the manifest's key for its settings."),
  ...AuthSettings.shape,
});
export type SignInItem = z.infer<typeof SignInItem>;

const MFA_STRICTNESS = { optional: 0, required_for_admins: 1, required: 2 } as const;
const RANK: Record<ManifestRisk, number> = { additive: 0, behaviour: 1, destructive: 2 };
const on = (value: boolean) => (value ? "turns on" : "turns off");

/** settingsOf is an item's settings document, without its key. */
function settingsOf(item: SignInItem): AuthSettings {
  const { surface: _, ...settings } = item;
  return settings;
}

/**
 * signInSection: the sign-in settings of the environment's surfaces (sign-in methods, mail, MFA
 * policy, passkeys, access tokens), one item per live surface. Settings are never deleted: a live
 * surface left out is refused (blocked), as the API only changes them. Changes are behaviour
 * (a stricter MFA policy too: users without a second factor enrol at their next sign-in), except
 * what users hold stopping to sign them in (password sign-in turned off while users have passwords;
 * passkeys turned off or moved to another relying party while passkeys are registered on it):
 * destructive. Names and wording (product, sender and relying-party names) are additive.
 * A surface the `surfaces` section creates in the same apply has its settings applied after it.
 */
export function signInSection(service: IdentityService): ManifestSection<SignInItem> {
  const c = service.core;
  const settings = service.authSettings;
  const byName = async (environmentId: string, name: string, tx?: Tx): Promise<Surface> => {
    const found = (await c.tenancy.surfaces.liveSurfaces(environmentId, tx)).find((s) => s.name === name);
    if (!found) {
      throw new AppError(
        TenancyErrors.surface_not_found,
        `No live surface is named "${name}": declare it in the surfaces section, or remove its signIn item.`,
      );
    }
    return found;
  };
  return {
    name: "signIn",
    description:
      "Surfaces' sign-in settings (sign-in methods, mail, MFA policy, passkeys, access tokens), by surface name.",
    item: SignInItem,
    keyOf: (i) => i.surface,
    // NOTE: `passkeys.origins` keeps its order: the first origin names the relying party when `rpId` is null.
    normalize: (i) => i,
    guard: (ctx, mode) => void c.access.environment(ctx, mode === "read" ? "surfaces:read" : "surfaces:write"),
    lock: (tx) => c.db.lockTable(tx, "surface_auth"),
    async live(environmentId, tx) {
      const configured = await settings.environmentSettings(environmentId, tx);
      return (await c.tenancy.surfaces.liveSurfaces(environmentId, tx)).map((s) => ({
        surface: s.name,
        ...(configured.get(s.id) ?? DEFAULT_AUTH_SETTINGS),
      }));
    },
    async assess(environmentId, diff, tx): Promise<ManifestAssessment> {
      const key = `\`${diff.key}\``;
      if (diff.action === "create") {
        return {
          risk: "additive",
          summary: `Sets the sign-in settings of new surface ${key} (the surfaces section creates it in the same apply; applying fails when no live surface has this name).`,
          affected: [],
          blocked: null,
        };
      }
      if (diff.action === "delete") {
        return {
          risk: "behaviour",
          summary: `Removes the sign-in settings of surface ${key}.`,
          affected: [],
          blocked: `A surface's sign-in settings cannot be removed, only changed: keep surface ${key} in signIn (as exported). To retire the surface, archive it in the surfaces section while keeping its signIn item, then remove the item in a later apply.`,
        };
      }
      const surface = await byName(environmentId, diff.key, tx);
      return assessChange(surface, settingsOf(diff.before as SignInItem), settingsOf(diff.after as SignInItem), {
        users: (which) => settings.activeUsers(environmentId, which, tx),
        passkeys: (rpId) => settings.livePasskeys(environmentId, rpId, tx),
      });
    },
    async apply(tx, ctx, environmentId, diff) {
      // A surface neither live nor created by this manifest's surfaces section is refused here.
      const surface = await byName(environmentId, diff.key, tx);
      const after = settingsOf(diff.after as SignInItem);
      // A surface created in this apply already has the defaults: nothing to record when they are wanted.
      if (canonicalJson(await settings.settingsFor(surface.id, tx)) === canonicalJson(after)) return;
      await settings.changeIn(tx, ctx, surface, after);
    },
  };
}

interface Reach {
  users(which: "password" | "unverified" | "no_second_factor"): Promise<number>;
  passkeys(rpId: string): Promise<number>;
}

/** assessChange classifies a change of a live surface's settings, field by field, and counts whom it reaches. */
async function assessChange(
  surface: Surface,
  before: AuthSettings,
  after: AuthSettings,
  reach: Reach,
): Promise<ManifestAssessment> {
  const key = `\`${surface.name}\``;
  const parts: string[] = [];
  const affected: ManifestAffected[] = [];
  let risk: ManifestRisk = "additive";
  const note = (r: ManifestRisk, part: string) => {
    parts.push(part);
    if (RANK[r] > RANK[risk]) risk = r;
  };

  if (before.signIn.password !== after.signIn.password) {
    if (after.signIn.password) note("behaviour", "turns on password sign-in");
    else {
      const holders = await reach.users("password");
      note(holders > 0 ? "destructive" : "behaviour", "turns off password sign-in");
      if (holders > 0)
        affected.push({ count: holders, what: `users with a password can no longer sign in with it through ${key}` });
    }
  }
  if (before.signIn.magicLink !== after.signIn.magicLink)
    note("behaviour", `${on(after.signIn.magicLink)} sign-in links by mail`);

  if (before.email.requireVerification !== after.email.requireVerification) {
    if (after.email.requireVerification) {
      note("behaviour", "refuses password sign-in until the address is verified");
      const unverified = await reach.users("unverified");
      if (unverified > 0) {
        affected.push({
          count: unverified,
          what: "users with an unverified address must verify it before signing in with a password",
        });
      }
    } else note("behaviour", "no longer requires a verified address for password sign-in");
  }
  if (before.email.sendVerificationOnSignup !== after.email.sendVerificationOnSignup) {
    note("behaviour", `${on(after.email.sendVerificationOnSignup)} the verification mail on sign-up`);
  }
  if (before.email.appUrl !== after.email.appUrl) note("behaviour", "changes the address its mails link to");
  if (before.email.senderAddress !== after.email.senderAddress)
    note("behaviour", "changes the From address of its mails");
  if (before.email.productName !== after.email.productName || before.email.senderName !== after.email.senderName) {
    note("additive", "renames how its mails name the product or sender");
  }

  const stricter = MFA_STRICTNESS[after.mfa.policy] - MFA_STRICTNESS[before.mfa.policy];
  if (stricter > 0) {
    const who = after.mfa.policy === "required" ? "every user" : "users holding an admin role";
    note("behaviour", `requires a second factor of ${who} (MFA policy ${before.mfa.policy} → ${after.mfa.policy})`);
    const without = await reach.users("no_second_factor");
    if (without > 0) {
      affected.push({
        count: without,
        what:
          after.mfa.policy === "required"
            ? "users without a second factor must enrol one at their next sign-in"
            : "users without a second factor (those holding an admin role must enrol one at their next sign-in)",
      });
    }
  } else if (stricter < 0) {
    note(
      "behaviour",
      `requires a second factor of fewer users (MFA policy ${before.mfa.policy} → ${after.mfa.policy})`,
    );
  }
  if (before.mfa.stepUpMaxAgeSeconds !== after.mfa.stepUpMaxAgeSeconds) {
    note("behaviour", `asks for a second factor within ${after.mfa.stepUpMaxAgeSeconds}s before sensitive actions`);
  }

  await assessPasskeys(surface, before, after, reach, note, affected);

  if (before.tokens.accessTokens !== after.tokens.accessTokens) {
    note(
      "behaviour",
      after.tokens.accessTokens
        ? "issues access tokens with its sessions"
        : "stops issuing access tokens (refresh tokens are refused)",
    );
  }
  if (before.tokens.accessTokenTtlSeconds !== after.tokens.accessTokenTtlSeconds) {
    note("behaviour", `issues access tokens for ${after.tokens.accessTokenTtlSeconds}s`);
  }
  if (parts.length === 0) parts.push("rewrites its settings without changing them");
  return { risk, summary: `Surface ${key}: ${parts.join("; ")}.`, affected, blocked: null };
}

/** assessPasskeys: passkeys registered on the relying party a change leaves stop signing in through the surface. */
async function assessPasskeys(
  surface: Surface,
  before: AuthSettings,
  after: AuthSettings,
  reach: Reach,
  note: (risk: ManifestRisk, part: string) => void,
  affected: ManifestAffected[],
): Promise<void> {
  const b = before.passkeys;
  const a = after.passkeys;
  if (b.rpName !== a.rpName) note("additive", "renames its passkey relying party");
  if (b.enabled === a.enabled && b.rpId === a.rpId && canonicalJson(b.origins) === canonicalJson(a.origins)) return;
  const rpBefore = relyingPartyOf(surface, b);
  const rpAfter = relyingPartyOf(surface, a);
  const left = "id" in rpBefore && (!("id" in rpAfter) || rpAfter.id !== rpBefore.id) ? rpBefore.id : null;
  const part =
    b.enabled !== a.enabled
      ? `${on(a.enabled)} passkeys`
      : b.rpId !== a.rpId
        ? `moves its passkey relying party to ${a.rpId ?? "its first origin's host"}`
        : "changes the origins its passkeys sign in from";
  const stranded = left === null ? 0 : await reach.passkeys(left);
  note(stranded > 0 ? "destructive" : "behaviour", part);
  if (stranded > 0) {
    affected.push({
      count: stranded,
      what: `passkeys of relying party \`${left}\` no longer sign in through surface \`${surface.name}\``,
    });
  }
}
