import { z } from "zod";
import { pageSchema } from "../../../platform/http/pagination.js";
import { AUTH, defineRoute, type RouteDefinition } from "../../../platform/http/route.js";
import { Id } from "../../../platform/http/schemas.js";
import { TenancyErrors } from "../../tenancy/index.js";
import { IdentityErrors } from "../errors.js";
import {
  Accepted,
  EmailChangeInput,
  EmailRequestInput,
  EmailVerified,
  ListMailsQuery,
  Mail,
  SignInResult,
  SurfaceMailTemplates,
  TokenInput,
  UpdateMailTemplatesInput,
  User,
  VerificationMailSent,
} from "../schemas.js";
import type { IdentityService } from "../service.js";

const TAGS = ["End-user auth"];
const requestErrors = [
  TenancyErrors.surface_not_found,
  IdentityErrors.email_not_configured,
  IdentityErrors.too_many_attempts,
];
const accepted = {
  status: 202,
  schema: Accepted,
  description: "Accepted; the same answer whether or not the address has an account.",
} as const;

/** mailRoutes: the mailed flows (verification, reset link, magic link, change of address), templates and the outbox. */
export function mailRoutes(s: IdentityService): RouteDefinition[] {
  return [
    defineRoute({
      method: "POST",
      url: "/v1/auth/email-verification/request",
      operationId: "requestEmailVerification",
      summary: "Mail a verification link to an unverified account",
      tags: TAGS,
      auth: "none",
      body: EmailRequestInput,
      response: accepted,
      errors: requestErrors,
      handler: ({ ctx, body }) => s.emailFlows.requestVerification(ctx, body),
    }),
    defineRoute({
      method: "POST",
      url: "/v1/auth/email-verification/confirm",
      operationId: "confirmEmailVerification",
      summary: "Prove the address with the mailed verification token",
      tags: TAGS,
      auth: "none",
      body: TokenInput,
      response: { status: 200, schema: EmailVerified, description: "The address is verified." },
      errors: [TenancyErrors.surface_not_found, IdentityErrors.invalid_link],
      handler: ({ ctx, body }) => s.emailFlows.confirmVerification(ctx, body),
    }),
    defineRoute({
      method: "POST",
      url: "/v1/auth/password-reset/request",
      operationId: "requestPasswordReset",
      summary: "Mail a password reset link (redeem it with POST /v1/auth/password-reset)",
      tags: TAGS,
      auth: "none",
      body: EmailRequestInput,
      response: accepted,
      errors: requestErrors,
      handler: ({ ctx, body }) => s.emailFlows.requestPasswordReset(ctx, body),
    }),
    defineRoute({
      method: "POST",
      url: "/v1/auth/magic-link",
      operationId: "requestMagicLink",
      summary: "Mail a single-use sign-in link (surfaces with signIn.magicLink)",
      tags: TAGS,
      auth: "none",
      body: EmailRequestInput,
      response: accepted,
      errors: [...requestErrors, IdentityErrors.magic_link_disabled],
      handler: ({ ctx, body }) => s.emailFlows.requestMagicLink(ctx, body),
    }),
    defineRoute({
      method: "POST",
      url: "/v1/auth/magic-link/redeem",
      operationId: "redeemMagicLink",
      summary: "Sign in with a mailed sign-in token (once, within 15 minutes, on its surface)",
      tags: TAGS,
      auth: "none",
      body: TokenInput,
      response: {
        status: 201,
        schema: SignInResult,
        description:
          "The session token (shown once); or, when a second factor is due, an MFA challenge (`mfaRequired: true`) to complete with `POST /v1/auth/mfa/verify`.",
      },
      secretFields: ["token", "accessToken", "refreshToken", "challengeToken"],
      errors: [TenancyErrors.surface_not_found, IdentityErrors.invalid_link],
      handler: ({ ctx, body }) => s.emailFlows.redeemMagicLink(ctx, body),
    }),
    defineRoute({
      method: "POST",
      url: "/v1/auth/email-change",
      operationId: "requestEmailChange",
      summary: "Change the account's address: a link to the new one, a notice to the old one",
      tags: TAGS,
      auth: AUTH.user,
      body: EmailChangeInput,
      response: accepted,
      errors: [
        IdentityErrors.email_not_configured,
        IdentityErrors.current_password_wrong,
        IdentityErrors.too_many_attempts,
        IdentityErrors.hashing_busy,
      ],
      handler: ({ ctx, body }) => s.emailChange.requestEmailChange(ctx, body),
    }),
    defineRoute({
      method: "POST",
      url: "/v1/auth/email-change/confirm",
      operationId: "confirmEmailChange",
      summary: "Apply an address change with the token mailed to the new address",
      tags: TAGS,
      auth: "none",
      body: TokenInput,
      response: { status: 200, schema: User, description: "The user with its new, verified address." },
      errors: [TenancyErrors.surface_not_found, IdentityErrors.invalid_link, IdentityErrors.email_taken],
      handler: ({ ctx, body }) => s.emailChange.confirmEmailChange(ctx, body),
    }),
    defineRoute({
      method: "POST",
      url: "/v1/users/:userId/email-verification",
      operationId: "sendEmailVerification",
      summary: "Mail a user a verification link through the key's surface",
      tags: ["Users"],
      auth: AUTH.environment,
      params: z.strictObject({ userId: Id }),
      response: { status: 200, schema: VerificationMailSent, description: "Whether a mail was queued." },
      errors: [IdentityErrors.user_not_found, IdentityErrors.user_disabled, TenancyErrors.surface_not_found],
      handler: ({ ctx, params }) => s.emailFlows.sendVerification(ctx, params.userId),
    }),
    defineRoute({
      method: "GET",
      url: "/v1/surfaces/:surfaceId/mail-templates",
      operationId: "getSurfaceMailTemplates",
      summary: "A surface's mail templates (built-in ones where not overridden)",
      tags: ["Surfaces"],
      auth: AUTH.operatorOrEnvironment,
      params: z.strictObject({ surfaceId: Id }),
      response: { status: 200, schema: SurfaceMailTemplates, description: "Every template." },
      errors: [TenancyErrors.surface_not_found],
      handler: ({ ctx, params }) => s.mailTemplates.getTemplates(ctx, params.surfaceId),
    }),
    defineRoute({
      method: "PATCH",
      url: "/v1/surfaces/:surfaceId/mail-templates",
      operationId: "updateSurfaceMailTemplates",
      summary: "Override a surface's mail templates (null puts one back to the built-in)",
      description:
        "Placeholders: `{{productName}}`, `{{email}}`, `{{link}}`, … (each template lists its own); values are " +
        "HTML-escaped in the HTML part. Unknown placeholders, stray braces and multi-line subjects are refused.",
      tags: ["Surfaces"],
      auth: AUTH.operatorOrEnvironment,
      params: z.strictObject({ surfaceId: Id }),
      body: UpdateMailTemplatesInput,
      response: { status: 200, schema: SurfaceMailTemplates, description: "Every template after the change." },
      errors: [TenancyErrors.surface_not_found, IdentityErrors.invalid_mail_template],
      handler: ({ ctx, params, body }) => s.mailTemplates.updateTemplates(ctx, params.surfaceId, body),
    }),
    defineRoute({
      method: "GET",
      url: "/v1/environments/:environmentId/mails",
      operationId: "listEnvironmentMails",
      summary: "An environment's mail outbox, newest first",
      description:
        "Bodies of mails carrying a single-use link are redacted while SMTP is configured, and blanked once sent.",
      tags: ["Operators"],
      auth: AUTH.operator,
      params: z.strictObject({ environmentId: Id }),
      query: ListMailsQuery,
      response: { status: 200, schema: pageSchema(Mail), description: "A page of mails." },
      errors: [TenancyErrors.environment_not_found],
      handler: ({ ctx, params, query }) => s.mail.listMails(ctx, params.environmentId, query),
    }),
  ];
}
