import { TEST_PASSWORD } from "../../testing/fixtures.js";
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

/**
 * The identity module's fixtures for the plane-wide suites: users and sessions (environment
 * routes), secret keys, operators and operator tokens (operator routes, throwaways of the admin),
 * the one operator route support may call, and one successful call per mutating route with the
 * facts it must commit.
 */
export const fixtures = defineModuleFixtures({
  module: "identity",
  params: {
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
      return (key.secretKey as { id: string }).id;
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
        (
          await created(
            await w.call(w.admin, "POST", "/v1/operator/tokens", { body: { name: `scratch ${w.unique()}` } }),
            "creating an operator token",
          )
        ).operatorToken as { id: string }
      ).id,
  },
  bodies: {
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
  factExclusions: {
    "POST /v1/auth/mfa/totp":
      "starts a pending enrolment only (a secret shown once); `user.mfa_enrolled` is recorded when a code confirms it",
    "POST /v1/auth/mfa/enroll/totp":
      "starts a pending enrolment only (with an enrolment challenge); `user.mfa_enrolled` is recorded by the verify that confirms it",
  },
  facts: {
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
  return (body.secretKey as { id: string }).id;
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
