import { expect } from "vitest";
import { TEST_PASSWORD } from "../../testing/fixtures.js";
import type { Credential } from "../../testing/isolation/route-table.js";
import {
  created,
  defineModuleFixtures,
  type EnvActors,
  type EnvUser,
  expectJson,
  expectRefused,
  expectStatus,
  fillUrl,
  findIn,
  type IsolationWorld,
  readBack,
} from "../../testing/isolation.js";
import { totpCode } from "../../testing/mfa.js";
import { type CreationOptions, type RequestOptions, SoftAuthenticator } from "../../testing/webauthn.js";
import { runDueJobs } from "../../testing/webhook-receiver.js";

/**
 * The identity module's fixtures for the plane-wide suites: users and sessions (environment
 * routes), secret keys, operators and operator tokens (operator routes, throwaways of the admin),
 * the one operator route support may call, and one successful call per mutating route with the
 * facts it must commit.
 */
export const fixtures = defineModuleFixtures({
  module: "identity",
  params: {
    // The environment itself (its access-token signing keys); the read-back is its public JWKS.
    environmentId: async (w, env) => ({
      id: env.environmentId,
      owner: env.key,
      read: () => readBack(w, env.key, `/v1/environments/${env.environmentId}/.well-known/jwks.json`),
    }),
    // A surface of the environment (its sign-in settings).
    userId: async (w, env) => {
      const n = w.unique();
      const body = await created(
        await w.call(env.key, "POST", "/v1/users", {
          body: {
            email: `fixture-${n}@${env.marker}.example.com`,
            name: `User ${env.marker}`,
            password: TEST_PASSWORD,
          },
        }),
        "creating a user",
      );
      const id = body.id as string;
      // A live session, so revocations would show.
      const login = await w.call(null, "POST", "/v1/auth/login", {
        body: { surfaceId: env.surfaceId, email: body.email, password: TEST_PASSWORD },
      });
      expectStatus(login, 201, "logging the fixture user in");
      return {
        id,
        owner: env.key,
        read: async () => [
          await readBack(w, env.key, `/v1/users/${id}`),
          await readBack(w, env.key, `/v1/users/${id}/sessions`),
        ],
      };
    },
    sessionId: async (w, env) => {
      const login = await w.call(null, "POST", "/v1/auth/login", {
        body: { surfaceId: env.surfaceId, email: env.user.email, password: TEST_PASSWORD },
      });
      const body = await created(login, "logging in to make a session");
      const id = (body.session as { id: string }).id;
      return {
        id,
        owner: env.user,
        read: () => findIn(w, env.key, `/v1/users/${env.user.actorId}/sessions`, id, { limit: "100" }),
      };
    },
    passkeyId: async (w, env) => {
      // The environment's user (the list checks read its passkeys), through a fresh sign-in of it.
      const login = await created(
        await w.call(null, "POST", "/v1/auth/login", {
          body: { surfaceId: env.surfaceId, email: env.user.email, password: TEST_PASSWORD },
        }),
        "signing the environment's user in again",
      );
      const fresh: EnvUser = { ...env.user, token: login.token as string, label: `${env.user.label} (fresh)` };
      const { user, passkeyId } = await passkeyOf(w, env, fresh);
      return { id: passkeyId, owner: user, read: () => findIn(w, user, "/v1/auth/passkeys", passkeyId) };
    },
    factorId: async (w, env) => {
      const { user, factorId } = await enrolledUser(w, env, "factor");
      return { id: factorId, owner: user, read: () => readBack(w, user, "/v1/auth/mfa/factors") };
    },
  },
  operatorParams: {
    keyId: async (w) => {
      const env = await w.scratchEnvironment();
      const key = await created(
        await w.call(w.admin, "POST", `/v1/environments/${env.environmentId}/secret-keys`, {
          body: { surfaceId: env.surfaceId, name: "scratch" },
        }),
        "creating a secret key",
      );
      return (key as { id: string }).id;
    },
    operatorId: async (w) =>
      (
        await created(
          await w.call(w.admin, "POST", "/v1/operators", {
            body: { email: `op-${w.unique()}@example.com`, name: "Scratch", role: "support", password: TEST_PASSWORD },
          }),
          "creating an operator",
        )
      ).id as string,
    tokenId: async (w) =>
      (
        await created(
          await w.call(w.admin, "POST", "/v1/operator/tokens", { body: { name: `scratch ${w.unique()}` } }),
          "creating an operator token",
        )
      ).id as string,
  },
  bodies: {
    "PATCH /v1/auth/passkeys/:passkeyId": () => ({ name: "Renamed passkey" }),
    // `send: true` needs a surface that mails links (the world's do not); fact fixtures cover it.
    "POST /v1/users/:userId/password-reset-tokens": () => ({ send: false }),
    // Exactly one proof is required, which a generated body cannot know.
    "POST /v1/auth/mfa/step-up": () => ({ code: "123456" }),
    "POST /v1/auth/mfa/verify": (w) => ({ surfaceId: w.a.surfaceId, challengeToken: "bp_mc_unknown", code: "123456" }),
    // The generated current password would be wrong (403) and count as a failed login attempt.
    "POST /v1/auth/password": () => ({
      currentPassword: TEST_PASSWORD,
      newPassword: "another correct horse battery",
      revokeOtherSessions: false,
    }),
  },
  supportExceptions: {
    "POST /v1/operator/mfa/totp": {
      reason: "every operator secures its own account (a pending enrolment of its own, nothing of the plane)",
      async check(w, route) {
        const session = await w.newSupportSession();
        const started = await w.call(session, route.method, route.url);
        expectStatus(started, 201, "support starting its own enrolment");
      },
    },
    ...Object.fromEntries(
      ["confirm", "disable", "recovery-codes"].map((what) => [
        `POST /v1/operator/mfa/${what === "confirm" ? "totp/confirm" : what}`,
        {
          reason: "every operator secures its own account: these change its own second factor only, with its code",
          async check(w: IsolationWorld, route: { method: string; url: string }) {
            const session = await w.newSupportSession();
            // Admitted (its own factor), and a wrong code changes nothing.
            const res = await w.call(session, route.method, route.url, { body: { code: "000000" } });
            expect([401, 409], `support: ${route.url} answered ${res.status}: ${res.text}`).toContain(res.status);
          },
        },
      ]),
    ),
    "POST /v1/operator/tokens/:tokenId/revoke": {
      reason: "every operator may end its own credentials (logout); another operator's token answers 404",
      async check(w, route) {
        const adminToken = await w.operatorParam("tokenId");
        await expectRefused(w, {
          label: "support revoking the admin's token",
          caller: w.support,
          method: route.method,
          url: fillUrl(route.url, { tokenId: adminToken }),
          status: 404,
        });
        const session = await w.newSupportSession();
        const logout = await w.call(session, "POST", fillUrl(route.url, { tokenId: "current" }));
        expectStatus(logout, 200, "support logging out");
        const after = await w.call(session, "GET", "/v1/operator/me");
        expectStatus(after, 401, "the support session after logout");
      },
    },
  },
  excluded: {
    "GET /v1/environments/:environmentId/.well-known/jwks.json":
      "no credential: every environment's public keys are public by design (tokens.test.ts checks another environment's JWKS does not verify a token)",
    "GET /v1/environments/:environmentId/.well-known/openid-configuration":
      "no credential: the issuer and JWKS address are public by design",
  },
  factExclusions: {
    "POST /v1/operator/mfa/totp":
      "starts a pending enrolment only (a secret shown once); `operator.mfa_enabled` is recorded when a code confirms it",
    "POST /v1/auth/mfa/totp":
      "starts a pending enrolment only (a secret shown once); `user.mfa_enrolled` is recorded when a code confirms it",
    "POST /v1/auth/mfa/enroll/totp":
      "starts a pending enrolment only (with an enrolment challenge); `user.mfa_enrolled` is recorded by the verify that confirms it",
    "POST /v1/auth/token/refresh":
      "a refresh is a use of the session, like a request: it records no fact (tokens.test.ts covers it; its reuse records `session.refresh_reused`)",
    "POST /v1/auth/passkeys/registration/options":
      "issues a single-use challenge and changes nothing else; the verify step records passkey.created",
    "POST /v1/auth/passkeys/login/options":
      "issues a single-use challenge and changes nothing else; the verify step records user.logged_in",
  },
  facts: {
    // Access tokens
    "POST /v1/environments/:environmentId/signing-keys/rotate": async (w) => ({
      caller: w.a.key,
      ids: { environmentId: w.a.environmentId },
      body: { alg: "ES256" },
      expect: () => ({ types: ["signing_key.rotated"], environmentId: w.a.environmentId }),
    }),
    // Passkeys
    "POST /v1/auth/passkeys/registration/verify": async (w) => {
      await enablePasskeys(w, w.a);
      const user = await w.newUser(w.a, "passkey-register");
      const options = (await expectJson(
        await w.call(user, "POST", "/v1/auth/passkeys/registration/options"),
        200,
        "passkey registration options",
      )) as unknown as CreationOptions;
      return {
        caller: user,
        body: { response: new SoftAuthenticator(PASSKEY_ORIGIN).register(options), name: "Laptop" },
        expect: () => ({ types: ["passkey.created"], environmentId: w.a.environmentId }),
      };
    },
    "POST /v1/auth/passkeys/login/verify": async (w) => {
      const { user, auth } = await passkeyOf(w, w.a);
      const { challengeId, options } = (await expectJson(
        await w.call(null, "POST", "/v1/auth/passkeys/login/options", { body: { surfaceId: w.a.surfaceId } }),
        200,
        "passkey login options",
      )) as { challengeId: string; options: RequestOptions };
      return {
        caller: null,
        body: { surfaceId: w.a.surfaceId, challengeId, response: auth.assert(options) },
        expect: () => ({ types: ["user.logged_in"], actorId: user.actorId, environmentId: w.a.environmentId }),
      };
    },
    "PATCH /v1/auth/passkeys/:passkeyId": async (w) => {
      const { user, passkeyId } = await passkeyOf(w, w.a);
      return {
        caller: user,
        ids: { passkeyId },
        body: { name: "Phone" },
        expect: () => ({ types: ["passkey.updated"], environmentId: w.a.environmentId }),
      };
    },
    "DELETE /v1/auth/passkeys/:passkeyId": async (w) => {
      const { user, passkeyId } = await passkeyOf(w, w.a);
      return {
        caller: user,
        ids: { passkeyId },
        expect: () => ({ types: ["passkey.deleted"], environmentId: w.a.environmentId }),
      };
    },
    // Multi-factor authentication
    "POST /v1/auth/mfa/totp/confirm": async (w) => {
      const user = await w.newUser(w.a, "mfa-confirm");
      const started = await created(await w.call(user, "POST", "/v1/auth/mfa/totp"), "starting TOTP");
      return {
        caller: user,
        body: { code: await totpCode(started.secret as string, Date.now()) },
        expect: () => ({ types: ["user.mfa_enrolled"], environmentId: w.a.environmentId }),
      };
    },
    "DELETE /v1/auth/mfa/factors/:factorId": async (w) => {
      const { user, factorId } = await enrolledUser(w, w.a, "mfa-remove");
      return {
        caller: user,
        ids: { factorId },
        expect: () => ({ types: ["user.mfa_removed"], environmentId: w.a.environmentId }),
      };
    },
    "POST /v1/auth/mfa/recovery-codes": async (w) => ({
      caller: (await enrolledUser(w, w.a, "mfa-codes")).user,
      expect: () => ({ types: ["user.recovery_codes_regenerated"], environmentId: w.a.environmentId }),
    }),
    "POST /v1/auth/mfa/step-up": async (w) => {
      const { user, recoveryCodes } = await enrolledUser(w, w.a, "mfa-step-up");
      return {
        caller: user,
        body: { recoveryCode: recoveryCodes[0] },
        expect: () => ({ types: ["user.mfa_verified"], environmentId: w.a.environmentId }),
      };
    },
    "POST /v1/auth/mfa/verify": async (w) => {
      const { user, recoveryCodes } = await enrolledUser(w, w.a, "mfa-verify");
      const challenge = await created(
        await w.call(null, "POST", "/v1/auth/login", {
          body: { surfaceId: w.a.surfaceId, email: user.email, password: TEST_PASSWORD },
        }),
        "logging in to an MFA challenge",
      );
      return {
        caller: null,
        body: { surfaceId: w.a.surfaceId, challengeToken: challenge.challengeToken, recoveryCode: recoveryCodes[0] },
        expect: () => ({
          types: ["user.mfa_verified", "user.logged_in"],
          actorId: user.actorId,
          environmentId: w.a.environmentId,
        }),
      };
    },

    // Surface sign-in settings
    "PATCH /v1/surfaces/:surfaceId/auth-settings": async (w) => {
      const { environmentId, surfaceId } = await w.scratchEnvironment("web");
      return {
        caller: w.admin,
        ids: { surfaceId },
        body: { mfa: { policy: "required", stepUpMaxAgeSeconds: 600 } },
        expect: () => ({ types: ["surface.auth_settings_updated"], environmentId }),
      };
    },
    // Operators
    "POST /v1/operator/login": async (w) => ({
      caller: null,
      body: { email: "support@example.com", password: TEST_PASSWORD },
      expect: () => ({ types: ["operator.logged_in"], actorId: w.support.actorId, environmentId: null }),
    }),
    "POST /v1/operator/tokens": async (w) => ({
      caller: w.admin,
      body: { name: "ci", expiresAt: Date.now() + 86_400_000 },
      expect: () => ({ types: ["operator_token.created"], environmentId: null }),
    }),
    "POST /v1/operator/tokens/:tokenId/revoke": async (w) => ({
      caller: w.admin,
      ids: { tokenId: await w.operatorParam("tokenId") },
      expect: () => ({ types: ["operator_token.revoked"], environmentId: null }),
    }),
    "POST /v1/operator/mfa/totp/confirm": async (w) => {
      const op = await freshOperator(w);
      const started = await expectJson(await w.call(op, "POST", "/v1/operator/mfa/totp"), 201, "starting an enrolment");
      return {
        caller: op,
        body: { code: await totpCode(started.secret as string, Date.now()) },
        expect: () => ({ types: ["operator.mfa_enabled"], environmentId: null }),
      };
    },
    "POST /v1/operator/mfa/disable": async (w) => {
      const { op, recoveryCodes } = await operatorWithMfa(w);
      return {
        caller: op,
        body: { code: recoveryCodes[0] },
        expect: () => ({ types: ["operator.mfa_disabled"], environmentId: null }),
      };
    },
    "POST /v1/operator/mfa/recovery-codes": async (w) => {
      const { op, recoveryCodes } = await operatorWithMfa(w);
      return {
        caller: op,
        body: { code: recoveryCodes[0] },
        expect: () => ({ types: ["operator.recovery_codes_replaced"], environmentId: null }),
      };
    },
    "POST /v1/operators/:operatorId/mfa/reset": async (w) => {
      const { op } = await operatorWithMfa(w);
      return {
        caller: w.admin,
        ids: { operatorId: op.actorId },
        body: { reason: "Lost phone (ticket 12)" },
        expect: () => ({ types: ["operator.mfa_reset"], environmentId: null }),
      };
    },
    "POST /v1/operators": async (w) => ({
      caller: w.admin,
      body: {
        email: `facts-${w.unique()}@example.com`,
        name: "New",
        role: "support",
        password: "a long enough passphrase",
      },
      expect: () => ({ types: ["operator.created"], environmentId: null }),
    }),
    "PATCH /v1/operators/:operatorId": async (w) => ({
      caller: w.admin,
      ids: { operatorId: await w.operatorParam("operatorId") },
      body: { name: "Renamed" },
      expect: () => ({ types: ["operator.updated"], environmentId: null }),
    }),

    // Secret keys (admin operator)
    "POST /v1/environments/:environmentId/secret-keys": async (w) => ({
      caller: w.admin,
      ids: { environmentId: w.a.environmentId },
      body: { surfaceId: w.a.surfaceId, name: "facts", scopes: ["tenants:read"] },
      expect: () => ({ types: ["secret_key.created"], environmentId: w.a.environmentId }),
    }),
    "POST /v1/secret-keys/:keyId/revoke": async (w) => ({
      caller: w.admin,
      ids: { keyId: await secretKeyIn(w, w.a) },
      expect: () => ({ types: ["secret_key.revoked"], environmentId: w.a.environmentId }),
    }),
    "POST /v1/secret-keys/:keyId/rotate": async (w) => ({
      caller: w.admin,
      ids: { keyId: await secretKeyIn(w, w.a) },
      body: { gracePeriodSeconds: 60 },
      expect: () => ({ types: ["secret_key.rotated"], environmentId: w.a.environmentId }),
    }),

    // Users (secret key)
    "POST /v1/users": async (w) => ({
      caller: w.a.key,
      body: { email: `facts-${w.unique()}@example.com`, name: "New", password: "a long enough passphrase" },
      expect: () => ({ types: ["user.created"], environmentId: w.a.environmentId }),
    }),
    "PATCH /v1/users/:userId": async (w) => ({
      caller: w.a.key,
      ids: { userId: (await w.param("userId", w.a)).id },
      body: { name: "Renamed", profile: { locale: "fr" } },
      expect: () => ({ types: ["user.updated"], environmentId: w.a.environmentId }),
    }),
    "DELETE /v1/users/:userId": async (w) => ({
      caller: w.a.key,
      ids: { userId: (await w.param("userId", w.a)).id },
      expect: () => ({ types: ["user.erased"], environmentId: w.a.environmentId }),
    }),
    "POST /v1/users/:userId/password-reset-tokens": async (w) => ({
      caller: w.a.key,
      ids: { userId: (await w.param("userId", w.a)).id },
      expect: () => ({ types: ["user.password_reset_requested"], environmentId: w.a.environmentId }),
    }),
    "POST /v1/users/:userId/sessions/revoke": async (w) => ({
      caller: w.a.key,
      // The fixture user has a live session.
      ids: { userId: (await w.param("userId", w.a)).id },
      expect: () => ({ types: ["session.revoked_all"], environmentId: w.a.environmentId }),
    }),

    // End-user auth
    "POST /v1/auth/signup": async (w) => ({
      caller: null,
      body: {
        surfaceId: w.a.surfaceId,
        email: `signup-${w.unique()}@example.com`,
        password: "a long enough passphrase",
      },
      expect: (issued) => ({
        types: ["user.signed_up", "user.logged_in"],
        actorId: (issued.user as { id: string }).id,
        environmentId: w.a.environmentId,
      }),
    }),
    "POST /v1/auth/login": async (w) => {
      const user = await w.newUser(w.a, "login");
      return {
        caller: null,
        body: { surfaceId: w.a.surfaceId, email: user.email, password: TEST_PASSWORD },
        expect: () => ({ types: ["user.logged_in"], actorId: user.actorId, environmentId: w.a.environmentId }),
      };
    },
    "POST /v1/auth/password-reset": async (w) => {
      const user = await w.newUser(w.a, "reset");
      const reset = await expectJson(
        await w.call(w.a.key, "POST", `/v1/users/${user.actorId}/password-reset-tokens`),
        201,
        "reset token",
      );
      return {
        caller: null,
        body: { surfaceId: w.a.surfaceId, token: reset.token, newPassword: "a brand new passphrase" },
        expect: () => ({
          types: ["user.password_reset", "session.revoked_all"],
          actorId: user.actorId,
          environmentId: w.a.environmentId,
        }),
      };
    },
    "POST /v1/auth/logout": async (w) => ({
      caller: await w.newUser(w.a, "logout"),
      expect: () => ({ types: ["user.logged_out"], environmentId: w.a.environmentId }),
    }),
    "POST /v1/auth/sessions/:sessionId/revoke": async (w) => {
      const user = await w.newUser(w.a, "revoke-one");
      return {
        caller: user,
        ids: { sessionId: await secondSession(w, w.a, user) },
        expect: () => ({ types: ["session.revoked"], environmentId: w.a.environmentId }),
      };
    },
    "POST /v1/auth/sessions/revoke-others": async (w) => {
      const user = await w.newUser(w.a, "revoke-others");
      await secondSession(w, w.a, user);
      return {
        caller: user,
        expect: () => ({ types: ["session.revoked_others"], environmentId: w.a.environmentId }),
      };
    },
    "POST /v1/auth/sessions/revoke-all": async (w) => ({
      caller: await w.newUser(w.a, "revoke-all"),
      expect: () => ({ types: ["session.revoked_all"], environmentId: w.a.environmentId }),
    }),
    // Mailed flows (a scratch environment whose surface can mail links)
    "POST /v1/auth/password-reset/request": async (w) => {
      const m = await mailingUser(w, "reset-request");
      return {
        caller: null,
        body: { surfaceId: m.surfaceId, email: m.email },
        expect: () => ({ types: ["user.password_reset_requested"], actorId: m.userId, environmentId: m.environmentId }),
      };
    },
    "POST /v1/auth/email-verification/request": async (w) => {
      const m = await mailingUser(w, "verify-request");
      return {
        caller: null,
        body: { surfaceId: m.surfaceId, email: m.email },
        expect: () => ({
          types: ["user.email_verification_requested"],
          actorId: m.userId,
          environmentId: m.environmentId,
        }),
      };
    },
    "POST /v1/auth/email-verification/confirm": async (w) => {
      const m = await mailingUser(w, "verify-confirm");
      await expectStatus(
        await w.call(m.key, "POST", `/v1/users/${m.userId}/email-verification`),
        200,
        "mailing a verification link",
      );
      return {
        caller: null,
        body: { surfaceId: m.surfaceId, token: await mailedToken(w, m, "verify-email") },
        expect: () => ({ types: ["user.email_verified"], actorId: m.userId, environmentId: m.environmentId }),
      };
    },
    "POST /v1/users/:userId/email-verification": async (w) => {
      const m = await mailingUser(w, "verify-backend");
      return {
        caller: m.key,
        ids: { userId: m.userId },
        expect: () => ({ types: ["user.email_verification_requested"], environmentId: m.environmentId }),
      };
    },
    "POST /v1/auth/magic-link": async (w) => {
      const m = await mailingUser(w, "magic");
      return {
        caller: null,
        body: { surfaceId: m.surfaceId, email: m.email },
        expect: () => ({ types: ["user.magic_link_requested"], actorId: m.userId, environmentId: m.environmentId }),
      };
    },
    "POST /v1/auth/magic-link/redeem": async (w) => {
      const m = await mailingUser(w, "magic-redeem");
      expectStatus(
        await w.call(null, "POST", "/v1/auth/magic-link", { body: { surfaceId: m.surfaceId, email: m.email } }),
        202,
        "asking for a magic link",
      );
      return {
        caller: null,
        body: { surfaceId: m.surfaceId, token: await mailedToken(w, m, "magic-link") },
        expect: () => ({
          types: ["user.email_verified", "user.logged_in"],
          actorId: m.userId,
          environmentId: m.environmentId,
        }),
      };
    },
    "POST /v1/auth/email-change": async (w) => {
      const m = await mailingUser(w, "change");
      return {
        caller: m.session,
        body: { newEmail: `changed-${w.unique()}@example.com`, password: TEST_PASSWORD },
        expect: () => ({ types: ["user.email_change_requested"], environmentId: m.environmentId }),
      };
    },
    "POST /v1/auth/email-change/confirm": async (w) => {
      const m = await mailingUser(w, "change-confirm");
      expectStatus(
        await w.call(m.session, "POST", "/v1/auth/email-change", {
          body: { newEmail: `changed-${w.unique()}@example.com`, password: TEST_PASSWORD },
        }),
        202,
        "asking for an address change",
      );
      return {
        caller: null,
        body: { surfaceId: m.surfaceId, token: await mailedToken(w, m, "confirm-email-change") },
        expect: () => ({ types: ["user.email_changed"], actorId: m.userId, environmentId: m.environmentId }),
      };
    },
    "PATCH /v1/surfaces/:surfaceId/mail-templates": async (w) => {
      const { environmentId, surfaceId } = await w.scratchEnvironment("web");
      return {
        caller: w.admin,
        ids: { surfaceId },
        body: {
          templates: {
            magic_link: {
              subject: "Sign in to {{productName}}",
              text: "{{link}}",
              html: '<a href="{{link}}">Sign in</a>',
            },
            invitation: null,
          },
        },
        expect: () => ({ types: ["surface.mail_templates_updated"], environmentId }),
      };
    },
    "POST /v1/auth/password": async (w) => {
      const user = await w.newUser(w.a, "change-password");
      await secondSession(w, w.a, user);
      return {
        caller: user,
        body: { currentPassword: TEST_PASSWORD, newPassword: "a brand new passphrase", revokeOtherSessions: true },
        expect: () => ({
          types: ["user.password_changed", "session.revoked_others"],
          environmentId: w.a.environmentId,
        }),
      };
    },
  },
});

/** enrolledUser creates a user of `env` with a session and an active TOTP factor (confirmed in that session). */
async function enrolledUser(
  w: IsolationWorld,
  env: EnvActors,
  label: string,
): Promise<{ user: EnvUser; factorId: string; recoveryCodes: string[] }> {
  const user = await w.newUser(env, label);
  const started = await created(await w.call(user, "POST", "/v1/auth/mfa/totp"), "starting TOTP");
  const confirmed = await expectJson(
    await w.call(user, "POST", "/v1/auth/mfa/totp/confirm", {
      body: { code: await totpCode(started.secret as string, Date.now()) },
    }),
    200,
    "confirming TOTP",
  );
  return { user, factorId: started.factorId as string, recoveryCodes: confirmed.recoveryCodes as string[] };
}

/** secretKeyIn creates, as the admin, a secret key of `env` (its first surface). */
async function secretKeyIn(w: IsolationWorld, env: EnvActors): Promise<string> {
  const body = await created(
    await w.call(w.admin, "POST", `/v1/environments/${env.environmentId}/secret-keys`, {
      body: { surfaceId: env.surfaceId, name: `facts ${w.unique()}` },
    }),
    "secret key",
  );
  return (body as { id: string }).id;
}

/** secondSession logs a user in once more (another live session of the same user). */
async function secondSession(w: IsolationWorld, env: EnvActors, user: EnvUser): Promise<string> {
  const body = await created(
    await w.call(null, "POST", "/v1/auth/login", {
      body: { surfaceId: env.surfaceId, email: user.email, password: TEST_PASSWORD },
    }),
    "second login",
  );
  return (body.session as { id: string }).id;
}

/** PASSKEY_ORIGIN: the page origin of the fixtures' passkeys (rpId `localhost`). */
const PASSKEY_ORIGIN = "http://localhost:3000";

/** enablePasskeys turns passkeys on for the environment's surface (rpId `localhost`). */
async function enablePasskeys(w: IsolationWorld, env: EnvActors): Promise<void> {
  const res = await w.call(env.key, "PATCH", `/v1/surfaces/${env.surfaceId}/auth-settings`, {
    body: { passkeys: { enabled: true, rpId: "localhost", origins: [PASSKEY_ORIGIN] } },
  });
  expectStatus(res, 200, "enabling passkeys");
}

/** passkeyOf registers a passkey for `signedIn` (a new user of `env` by default), through HTTP. */
async function passkeyOf(
  w: IsolationWorld,
  env: EnvActors,
  signedIn?: EnvUser,
): Promise<{ user: EnvUser; auth: SoftAuthenticator; passkeyId: string }> {
  await enablePasskeys(w, env);
  const user = signedIn ?? (await w.newUser(env, "passkey"));
  const options = (await expectJson(
    await w.call(user, "POST", "/v1/auth/passkeys/registration/options"),
    200,
    "passkey registration options",
  )) as unknown as CreationOptions;
  const auth = new SoftAuthenticator(PASSKEY_ORIGIN);
  const passkey = await created(
    await w.call(user, "POST", "/v1/auth/passkeys/registration/verify", {
      body: { response: auth.register(options), name: `Passkey ${env.marker}` },
    }),
    "registering a passkey",
  );
  return { user, auth, passkeyId: passkey.id as string };
}

/** MailingUser: an end user of a scratch environment whose surface mails links (no SMTP: mails are logged). */
interface MailingUser {
  environmentId: string;
  surfaceId: string;
  key: Credential;
  userId: string;
  email: string;
  session: Credential;
}

/**
 * mailingUser creates, as the admin, a scratch environment whose surface has `email.appUrl` and
 * magic links on, a secret key of it, and a logged-in user (no verification mail: it is off).
 */
async function mailingUser(w: IsolationWorld, label: string): Promise<MailingUser> {
  const env = await w.scratchEnvironment("web");
  expectStatus(
    await w.call(w.admin, "PATCH", `/v1/surfaces/${env.surfaceId}/auth-settings`, {
      body: {
        email: { appUrl: "https://app.example.com", sendVerificationOnSignup: false },
        signIn: { magicLink: true },
      },
    }),
    200,
    "letting a scratch surface mail links",
  );
  const issued = await created(
    await w.call(w.admin, "POST", `/v1/environments/${env.environmentId}/secret-keys`, {
      body: { surfaceId: env.surfaceId, name: `mail ${w.unique()}` },
    }),
    "a scratch secret key",
  );
  const key: Credential = {
    kind: "service",
    token: issued.token as string,
    actorId: (issued as { id: string }).id,
    label: "scratch secret key",
  };
  const email = `${label}-${w.unique()}@example.com`;
  const user = await created(
    await w.call(key, "POST", "/v1/users", { body: { email, password: TEST_PASSWORD } }),
    "a scratch user",
  );
  const login = await created(
    await w.call(null, "POST", "/v1/auth/login", {
      body: { surfaceId: env.surfaceId, email, password: TEST_PASSWORD },
    }),
    "the scratch user's login",
  );
  const userId = user.id as string;
  return {
    ...env,
    key,
    userId,
    email,
    session: { kind: "user", token: login.token as string, actorId: userId, label: "scratch user" },
  };
}

/** mailedToken reads the newest mailed link of a flow from the environment's outbox (logged: no SMTP in the sweep). */
async function mailedToken(w: IsolationWorld, m: MailingUser, path: string): Promise<string> {
  await runDueJobs(w.t);
  const mails = await expectJson(
    await w.call(w.admin, "GET", `/v1/environments/${m.environmentId}/mails`),
    200,
    "reading the outbox",
  );
  for (const mail of mails.data as Array<{ text: string | null }>) {
    const match = new RegExp(`/auth/${path}\\?token=([A-Za-z0-9_]+)`).exec(mail.text ?? "");
    if (match?.[1]) {
      w.secrets.add(match[1]);
      return match[1];
    }
  }
  throw new Error(`no /auth/${path} link in the outbox of ${m.environmentId}`);
}

/** freshOperator creates an admin operator of its own and signs it in (its second factor is its own to change). */
async function freshOperator(w: IsolationWorld): Promise<Credential> {
  const email = `mfa-${w.unique()}@example.com`;
  const made = await expectJson(
    await w.call(w.admin, "POST", "/v1/operators", {
      body: { email, name: "MFA", role: "admin", password: TEST_PASSWORD },
    }),
    201,
    "creating an operator",
  );
  const login = await expectJson(
    await w.call(null, "POST", "/v1/operator/login", { body: { email, password: TEST_PASSWORD } }),
    201,
    "signing the operator in",
  );
  return { kind: "admin", token: login.token as string, actorId: made.id as string, label: `operator ${email}` };
}

/** operatorWithMfa: a fresh operator with two-factor sign-in on, and its recovery codes. */
async function operatorWithMfa(w: IsolationWorld): Promise<{ op: Credential; recoveryCodes: string[] }> {
  const op = await freshOperator(w);
  const started = await expectJson(await w.call(op, "POST", "/v1/operator/mfa/totp"), 201, "starting an enrolment");
  const confirmed = await expectJson(
    await w.call(op, "POST", "/v1/operator/mfa/totp/confirm", {
      body: { code: await totpCode(started.secret as string, Date.now()) },
    }),
    200,
    "confirming the enrolment",
  );
  return { op, recoveryCodes: confirmed.recoveryCodes as string[] };
}
