import { z } from "zod";
import { refuseCredentialLikeKeys } from "../../platform/facts/index.js";
import { paginationQuery } from "../../platform/http/pagination.js";
import { isPermission } from "../../platform/permissions.js";
import { MAIL_LIMITS, MailTemplateName } from "./internal/mail/templates.js";
import { AuthSettings } from "./internal/settings/index.js";

const Timestamp = z.number().int().describe("Epoch milliseconds.");
export const Email = z
  .string()
  .trim()
  .max(254)
  .pipe(z.email({ message: "must be an email address" }));
const Password = z
  .string()
  .min(1)
  .max(4096)
  .describe("Checked for length and against common passwords; never truncated.");
const Name = z.string().trim().min(1).max(200);
const Permission = z.string().max(100).refine(isPermission, "must be resource:action, resource:*, *:action or *");
const Profile = z
  .record(z.string().max(100), z.unknown())
  .refine((m) => Buffer.byteLength(JSON.stringify(m)) <= 8192, { message: "must be at most 8192 bytes as JSON" })
  .superRefine(refuseCredentialLikeKeys);
const Future = Timestamp.describe("Epoch milliseconds in the future.");

// Operators
export const OperatorRole = z.enum(["admin", "support"]);
export const Operator = z.object({
  id: z.string(),
  email: z.string(),
  name: z.string(),
  role: OperatorRole,
  disabled: z.boolean(),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});
export type Operator = z.infer<typeof Operator>;
export const CreateOperatorInput = z.strictObject({ email: Email, name: Name, role: OperatorRole, password: Password });
export const UpdateOperatorInput = z.strictObject({
  name: Name.optional(),
  role: OperatorRole.optional(),
  disabled: z.boolean().optional(),
});
export const OperatorLoginInput = z.strictObject({ email: Email, password: Password });
export const OperatorToken = z.object({
  id: z.string(),
  operatorId: z.string(),
  kind: z.enum(["session", "api"]),
  name: z.string(),
  createdAt: Timestamp,
  lastUsedAt: Timestamp,
  expiresAt: Timestamp.nullable(),
  revokedAt: Timestamp.nullable(),
});
export type OperatorToken = z.infer<typeof OperatorToken>;
export const CreateOperatorTokenInput = z.strictObject({ name: Name, expiresAt: Future.optional() });
export const IssuedOperatorToken = z.object({
  token: z
    .string()
    .nullable()
    .describe(
      "Shown once. Send as `Authorization: Bearer <token>`. Null in an idempotent replay: a token is never stored, so it is shown only once.",
    ),
  operatorToken: OperatorToken,
  operator: Operator,
});

// Users
export const User = z.object({
  id: z.string(),
  environmentId: z.string(),
  email: z.string(),
  name: z.string().nullable(),
  profile: z.record(z.string(), z.unknown()),
  hasPassword: z.boolean(),
  emailVerified: z.boolean().describe("Whether the user proved the address (a mailed link or an IdP asserting it)."),
  emailVerifiedAt: Timestamp.nullable(),
  disabled: z.boolean(),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});
export type User = z.infer<typeof User>;
export const CreateUserInput = z.strictObject({
  email: Email,
  name: Name.optional(),
  password: Password.optional(),
  profile: Profile.optional(),
});
export const UpdateUserInput = z.strictObject({
  email: Email.optional(),
  name: Name.nullable().optional(),
  profile: Profile.optional(),
  disabled: z.boolean().optional().describe("Disabling ends every session and credential of the user at once."),
});
export const ListUsersQuery = paginationQuery
  .extend({
    email: z.string().max(254).optional().describe("Exact email (case-insensitive)."),
    q: z.string().min(1).max(200).optional().describe("Search email and name (case-insensitive)."),
  })
  .strict();
export const PasswordResetToken = z.object({
  token: z
    .string()
    .nullable()
    .describe(
      "Shown once. Deliver it to the user yourself (or pass `send: true` to have the plane mail the link). Null when mailed, and in an idempotent replay: a token is never stored, so it is shown only once.",
    ),
  expiresAt: Timestamp,
  sent: z.boolean().optional().describe("With `send: true`: the link was mailed (the token is then not returned)."),
});

// Sessions and end-user auth
export const Session = z.object({
  id: z.string(),
  userId: z.string(),
  surfaceId: z.string(),
  createdAt: Timestamp,
  lastUsedAt: Timestamp,
  expiresAt: Timestamp.describe("Absolute expiry; the session also ends after the idle timeout."),
  authMethod: z.string().describe("How the session was opened: password, magic_link, passkey, oidc, …"),
  aal: z.number().int().describe("Authentication level: 1 after one factor, 2 after a second one."),
  secondFactorAt: Timestamp.nullable().describe("When a second factor was last shown in this session."),
  ip: z.string().nullable(),
  userAgent: z.string().nullable(),
  current: z.boolean().describe("Whether this is the session making the request."),
});
export type Session = z.infer<typeof Session>;
export const SignupInput = z.strictObject({
  surfaceId: z.string().max(64),
  email: Email,
  password: Password,
  name: Name.optional(),
});
export const LoginInput = z.strictObject({ surfaceId: z.string().max(64), email: Email, password: Password });
export const IssuedSession = z.object({
  token: z
    .string()
    .nullable()
    .describe(
      "Shown once. Send as `Authorization: Bearer <token>`. Null in an idempotent replay: a token is never stored, so it is shown only once.",
    ),
  session: Session,
  user: User,
});
export const ChangePasswordInput = z.strictObject({
  currentPassword: Password,
  newPassword: Password,
  revokeOtherSessions: z.boolean().default(true),
});
export const ResetPasswordInput = z.strictObject({
  surfaceId: z.string().max(64),
  token: z.string().max(200),
  newPassword: Password,
});
export const Revoked = z.object({ revoked: z.number().int().describe("How many sessions or tokens were revoked.") });

// Secret keys
export const SecretKey = z.object({
  id: z.string(),
  environmentId: z.string(),
  surfaceId: z.string(),
  name: z.string(),
  display: z.string().describe("Redacted form that identifies the key (prefix and last characters)."),
  scopes: z.array(z.string()),
  createdBy: z.string(),
  createdAt: Timestamp,
  expiresAt: Timestamp.nullable(),
  revokedAt: Timestamp.nullable(),
  lastUsedAt: Timestamp.nullable(),
  replacedBy: z.string().nullable(),
});
export type SecretKey = z.infer<typeof SecretKey>;
export const CreateSecretKeyInput = z.strictObject({
  surfaceId: z.string().max(64),
  name: Name,
  scopes: z.array(Permission).min(1).max(200).default(["*"]),
  expiresAt: Future.optional(),
});
export const RotateSecretKeyInput = z.strictObject({
  gracePeriodSeconds: z
    .number()
    .int()
    .min(0)
    .max(7 * 86_400)
    .default(86_400)
    .describe("How long the old key keeps working (default 24 h, at most 7 days)."),
});
export const IssuedSecretKey = z.object({
  token: z
    .string()
    .nullable()
    .describe(
      "Shown once; only its hash is stored. Null in an idempotent replay: a token is never stored, so it is shown only once.",
    ),
  secretKey: SecretKey,
});
export const ListQuery = paginationQuery.strict();

// Surface sign-in settings
export const SurfaceAuthSettings = z.object({
  surfaceId: z.string(),
  settings: AuthSettings,
  updatedAt: Timestamp.nullable().describe("Null while the surface runs on the defaults."),
});
export { AuthSettingsPatch } from "./internal/settings/index.js";

// Mail: the outbox, templates and the mailed flows
export const Mail = z.object({
  id: z.string(),
  environmentId: z.string(),
  surfaceId: z.string().nullable(),
  to: z.string(),
  subject: z.string(),
  template: z.string(),
  status: z
    .enum(["queued", "sent", "failed", "logged"])
    .describe("`logged`: no SMTP is configured, the mail was written to the log instead."),
  attempts: z.number().int(),
  lastError: z.string().nullable(),
  text: z.string().nullable().describe("Null once a mail carrying a single-use link was sent, or when `redacted`."),
  html: z.string().nullable(),
  redacted: z.boolean().describe("The bodies carry a single-use link and are hidden while SMTP is configured."),
  createdAt: Timestamp,
  sentAt: Timestamp.nullable(),
});
export type Mail = z.infer<typeof Mail>;
export const ListMailsQuery = paginationQuery
  .extend({
    to: z.string().max(254).optional().describe("Exact recipient."),
    status: z.enum(["queued", "sent", "failed", "logged"]).optional(),
  })
  .strict();
const TemplateContent = z.strictObject({
  subject: z.string().min(1).max(MAIL_LIMITS.subject).describe("One line; `{{placeholders}}` allowed."),
  text: z.string().min(1).max(MAIL_LIMITS.text),
  html: z.string().min(1).max(MAIL_LIMITS.html).describe("Placeholder values are HTML-escaped."),
});
export const MailTemplate = TemplateContent.extend({
  template: MailTemplateName,
  placeholders: z.array(z.string()).describe("The placeholders this template may use."),
  custom: z.boolean().describe("Whether the surface overrides the built-in template."),
});
export const SurfaceMailTemplates = z.object({ surfaceId: z.string(), templates: z.array(MailTemplate) });
export const UpdateMailTemplatesInput = z.strictObject({
  templates: z
    .partialRecord(MailTemplateName, TemplateContent.nullable())
    .describe("Templates to set; null puts a template back to the built-in one."),
});
const SurfaceId = z.string().max(64);
export const EmailRequestInput = z.strictObject({ surfaceId: SurfaceId, email: Email });
export const TokenInput = z.strictObject({ surfaceId: SurfaceId, token: z.string().max(200) });
export const Accepted = z.object({
  accepted: z.literal(true).describe("Always true: whether a mail went out is never told."),
});
export const EmailVerified = z.object({ emailVerified: z.literal(true) });
export const EmailChangeInput = z.strictObject({
  newEmail: Email,
  password: Password.optional().describe("The current password (required when the user has one)."),
});
export const PasswordResetTokenInput = z.strictObject({
  send: z
    .boolean()
    .default(false)
    .describe("Mail the reset link through the key's surface instead of returning the token (needs `email.appUrl`)."),
});
export const VerificationMailSent = z.object({
  sent: z.boolean().describe("Whether a verification mail was queued."),
  reason: z
    .enum(["already_verified", "email_not_configured"])
    .nullable()
    .describe("Why nothing was sent: the address is verified, or the key's surface has no `email.appUrl`."),
});
