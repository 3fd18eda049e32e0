import { z } from "zod";
import { StepUpErrors } from "../../../platform/access.js";
import { AUTH, defineRoute, type RouteDefinition } from "../../../platform/http/route.js";
import { Id } from "../../../platform/http/schemas.js";
import { TenancyErrors } from "../../tenancy/index.js";
import { IdentityErrors } from "../errors.js";
import {
  ConfirmTotpInput,
  EnrolWithChallengeInput,
  MfaFactor,
  MfaFactors,
  MfaProofInput,
  RecoveryCodes,
  StepUpResult,
  TotpEnrolment,
  VerifiedSession,
  VerifyMfaInput,
} from "../schemas.js";
import type { IdentityService } from "../service.js";

const TAGS = ["End-user auth"];

export function mfaRoutes(s: IdentityService): RouteDefinition[] {
  return [
    defineRoute({
      method: "POST",
      url: "/v1/auth/mfa/totp",
      operationId: "enrolTotp",
      summary: "Start enrolling an authenticator app (TOTP) for the current user",
      description:
        "Answers a new secret and its `otpauth://` URI (shown once). The enrolment is pending until `POST /v1/auth/mfa/totp/confirm` with a first code; a pending one is replaced by a new start.",
      tags: TAGS,
      auth: AUTH.user,
      response: { status: 201, schema: TotpEnrolment, description: "The secret, shown once." },
      secretFields: ["secret", "otpauthUri"],
      errors: [IdentityErrors.mfa_already_enrolled],
      handler: ({ ctx }) => s.mfaFactors.enrolTotp(ctx),
    }),
    defineRoute({
      method: "POST",
      url: "/v1/auth/mfa/totp/confirm",
      operationId: "confirmTotp",
      summary: "Activate the pending TOTP enrolment with a first code; answers recovery codes",
      tags: TAGS,
      auth: AUTH.user,
      body: ConfirmTotpInput,
      response: { status: 200, schema: RecoveryCodes, description: "The recovery codes, shown once." },
      secretFields: ["recoveryCodes"],
      errors: [IdentityErrors.invalid_mfa_code, IdentityErrors.mfa_not_enrolled, IdentityErrors.too_many_attempts],
      handler: ({ ctx, body }) => s.mfaFactors.confirmTotp(ctx, body.code),
    }),
    defineRoute({
      method: "GET",
      url: "/v1/auth/mfa/factors",
      operationId: "listMfaFactors",
      summary: "List the current user's second factors",
      tags: TAGS,
      auth: AUTH.user,
      response: { status: 200, schema: MfaFactors, description: "The active factors and the recovery codes left." },
      handler: ({ ctx }) => s.mfaFactors.listFactors(ctx),
    }),
    defineRoute({
      method: "DELETE",
      url: "/v1/auth/mfa/factors/:factorId",
      operationId: "removeMfaFactor",
      summary: "Remove one of the current user's second factors (needs a recent step-up)",
      tags: TAGS,
      auth: AUTH.user,
      params: z.strictObject({ factorId: Id }),
      response: { status: 200, schema: MfaFactor, description: "The removed factor." },
      errors: [IdentityErrors.mfa_factor_not_found, StepUpErrors.step_up_required],
      handler: ({ ctx, params }) => s.mfaFactors.removeFactor(ctx, params.factorId),
    }),
    defineRoute({
      method: "POST",
      url: "/v1/auth/mfa/recovery-codes",
      operationId: "regenerateRecoveryCodes",
      summary: "Replace the current user's recovery codes (needs a recent step-up)",
      tags: TAGS,
      auth: AUTH.user,
      response: { status: 201, schema: RecoveryCodes, description: "The new recovery codes, shown once." },
      secretFields: ["recoveryCodes"],
      errors: [IdentityErrors.mfa_not_enrolled, StepUpErrors.step_up_required],
      handler: ({ ctx }) => s.mfaFactors.regenerateRecoveryCodes(ctx),
    }),
    defineRoute({
      method: "POST",
      url: "/v1/auth/mfa/step-up",
      operationId: "stepUp",
      summary: "Show a second factor again in this session (for sensitive actions)",
      description:
        "Marks the session `aal: 2` with `secondFactorAt` now. Sensitive routes answer 403 `step_up_required` when the last second factor is older than the surface's `mfa.stepUpMaxAgeSeconds`.",
      tags: TAGS,
      auth: AUTH.user,
      body: MfaProofInput,
      response: { status: 200, schema: StepUpResult, description: "The session, stepped up." },
      errors: [
        IdentityErrors.invalid_mfa_code,
        IdentityErrors.mfa_not_enrolled,
        IdentityErrors.mfa_method_unavailable,
        IdentityErrors.too_many_attempts,
      ],
      handler: ({ ctx, body }) => s.mfaChallenges.stepUp(ctx, body),
    }),
    defineRoute({
      method: "POST",
      url: "/v1/auth/mfa/verify",
      operationId: "verifyMfa",
      summary: "Complete a sign-in's MFA challenge with a second factor; opens an aal-2 session",
      description:
        "The challenge is single use, bound to its user and surface, and lives 5 minutes; attempts are throttled. After an `enroll` challenge, the TOTP code confirms the enrolment and the answer carries the recovery codes.",
      tags: TAGS,
      auth: "none",
      body: VerifyMfaInput,
      response: {
        status: 201,
        schema: VerifiedSession,
        description: "The session token (and recovery codes), shown once.",
      },
      secretFields: ["token", "accessToken", "refreshToken", "recoveryCodes"],
      errors: [
        TenancyErrors.surface_not_found,
        IdentityErrors.invalid_mfa_challenge,
        IdentityErrors.invalid_mfa_code,
        IdentityErrors.mfa_not_enrolled,
        IdentityErrors.mfa_method_unavailable,
        IdentityErrors.too_many_attempts,
      ],
      handler: ({ ctx, body }) => s.mfaChallenges.verify(ctx, body),
    }),
    defineRoute({
      method: "POST",
      url: "/v1/auth/mfa/enroll/totp",
      operationId: "enrolTotpWithChallenge",
      summary: "Start enrolling TOTP with an `enroll` challenge (the surface requires MFA)",
      description: "Then `POST /v1/auth/mfa/verify` with the challenge and a first code signs in.",
      tags: TAGS,
      auth: "none",
      body: EnrolWithChallengeInput,
      response: { status: 201, schema: TotpEnrolment, description: "The secret, shown once." },
      secretFields: ["secret", "otpauthUri"],
      errors: [
        TenancyErrors.surface_not_found,
        IdentityErrors.invalid_mfa_challenge,
        IdentityErrors.mfa_already_enrolled,
        IdentityErrors.too_many_attempts,
      ],
      handler: ({ ctx, body }) => s.mfaChallenges.enrolWithChallenge(ctx, body),
    }),
  ];
}
