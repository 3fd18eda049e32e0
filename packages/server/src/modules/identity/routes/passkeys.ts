import { z } from "zod";
import { AUTH, defineRoute, type RouteDefinition } from "../../../platform/http/route.js";
import { Id } from "../../../platform/http/schemas.js";
import { TenancyErrors } from "../../tenancy/index.js";
import { IdentityErrors } from "../errors.js";
import {
  IssuedSession,
  Passkey,
  PasskeyAssertionOptions,
  PasskeyCreationOptions,
  PasskeyLoginInput,
  PasskeyLoginOptionsInput,
  UpdatePasskeyInput,
  VerifyPasskeyRegistrationInput,
} from "../schemas.js";
import type { IdentityService } from "../service.js";

const tags = ["Passkeys"];

export function passkeyRoutes(s: IdentityService): RouteDefinition[] {
  const params = z.strictObject({ passkeyId: Id });
  return [
    defineRoute({
      method: "POST",
      url: "/v1/auth/passkeys/registration/options",
      operationId: "passkeyRegistrationOptions",
      summary: "Start registering a passkey for the signed-in user",
      description:
        "Creation options for `navigator.credentials.create` on the session's surface (its relying party), valid " +
        "for 5 minutes and once. Needs a recent sign-in (the surface's `mfa.stepUpMaxAgeSeconds`).",
      tags,
      auth: AUTH.user,
      response: { status: 200, schema: PasskeyCreationOptions, description: "The creation options." },
      errors: [
        TenancyErrors.surface_not_found,
        IdentityErrors.passkeys_disabled,
        IdentityErrors.recent_sign_in_required,
      ],
      handler: ({ ctx }) => s.passkeys.registrationOptions(ctx),
    }),
    defineRoute({
      method: "POST",
      url: "/v1/auth/passkeys/registration/verify",
      operationId: "verifyPasskeyRegistration",
      summary: "Finish registering a passkey: store the new credential",
      tags,
      auth: AUTH.user,
      body: VerifyPasskeyRegistrationInput,
      response: { status: 201, schema: Passkey, description: "The passkey." },
      errors: [
        TenancyErrors.surface_not_found,
        IdentityErrors.passkeys_disabled,
        IdentityErrors.passkey_challenge_invalid,
        IdentityErrors.passkey_registration_failed,
        IdentityErrors.passkey_exists,
      ],
      handler: ({ ctx, body }) => s.passkeys.verifyRegistration(ctx, body),
    }),
    defineRoute({
      method: "GET",
      url: "/v1/auth/passkeys",
      operationId: "listMyPasskeys",
      summary: "List the signed-in user's passkeys",
      tags,
      auth: AUTH.user,
      response: {
        status: 200,
        schema: z.object({ data: z.array(Passkey), hasMore: z.literal(false), nextCursor: z.null() }),
        description: "The passkeys, oldest first.",
      },
      handler: ({ ctx }) => s.passkeys.listMyPasskeys(ctx),
    }),
    defineRoute({
      method: "PATCH",
      url: "/v1/auth/passkeys/:passkeyId",
      operationId: "updateMyPasskey",
      summary: "Rename one of the signed-in user's passkeys",
      tags,
      auth: AUTH.user,
      params,
      body: UpdatePasskeyInput,
      response: { status: 200, schema: Passkey, description: "The passkey." },
      errors: [IdentityErrors.passkey_not_found],
      handler: ({ ctx, params, body }) => s.passkeys.updateMyPasskey(ctx, params.passkeyId, body),
    }),
    defineRoute({
      method: "DELETE",
      url: "/v1/auth/passkeys/:passkeyId",
      operationId: "deleteMyPasskey",
      summary: "Delete one of the signed-in user's passkeys",
      description: "Needs a recent sign-in (the surface's `mfa.stepUpMaxAgeSeconds`). The passkey signs in no more.",
      tags,
      auth: AUTH.user,
      params,
      response: { status: 200, schema: Passkey, description: "The deleted passkey." },
      errors: [IdentityErrors.passkey_not_found, IdentityErrors.recent_sign_in_required],
      handler: ({ ctx, params }) => s.passkeys.deleteMyPasskey(ctx, params.passkeyId),
    }),
    defineRoute({
      method: "POST",
      url: "/v1/auth/passkeys/login/options",
      operationId: "passkeyLoginOptions",
      summary: "Start signing in with a passkey through a surface",
      description:
        "Request options for `navigator.credentials.get` and the `challengeId` to answer with (5 minutes, once). " +
        "Without `email`, any discoverable passkey of the surface's relying party may answer.",
      tags,
      auth: "none",
      body: PasskeyLoginOptionsInput,
      response: { status: 200, schema: PasskeyAssertionOptions, description: "The options." },
      errors: [TenancyErrors.surface_not_found, IdentityErrors.passkeys_disabled, IdentityErrors.too_many_attempts],
      handler: ({ ctx, body }) => s.passkeys.loginOptions(ctx, body),
    }),
    defineRoute({
      method: "POST",
      url: "/v1/auth/passkeys/login/verify",
      operationId: "passkeyLogin",
      summary: "Sign in with a passkey: check the signed challenge and open a session",
      description: "The session's level is 2 when the authenticator verified the user (PIN, biometrics), 1 otherwise.",
      tags,
      auth: "none",
      body: PasskeyLoginInput,
      response: { status: 201, schema: IssuedSession, description: "The session token, shown once." },
      secretFields: ["token", "accessToken", "refreshToken"],
      errors: [
        TenancyErrors.surface_not_found,
        IdentityErrors.passkeys_disabled,
        IdentityErrors.passkey_challenge_invalid,
        IdentityErrors.passkey_invalid,
      ],
      handler: ({ ctx, body }) => s.passkeys.verifyLogin(ctx, body),
    }),
  ];
}
