import { z } from "zod";
import { refuseCredentialLikeKeys } from "../../platform/facts/index.js";
import { paginationQuery } from "../../platform/http/pagination.js";
import { isPermission } from "../../platform/permissions.js";
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
      "Shown once. Deliver it to the user yourself; Baseplate never sends email. Null in an idempotent replay: a token is never stored, so it is shown only once.",
    ),
  expiresAt: Timestamp,
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

// Multi-factor authentication
const Code = z.string().trim().max(64);
const ChallengeToken = z.string().max(200).describe("The `challengeToken` of the MFA challenge.");
export const MfaChallenge = z.object({
  mfaRequired: z.literal(true),
  challengeToken: z.string().nullable().describe("Shown once; send it to `POST /v1/auth/mfa/verify`."),
  purpose: z
    .enum(["sign_in", "enroll"])
    .describe("`sign_in`: show one of `methods`. `enroll`: the surface requires a second factor the user lacks."),
  methods: z.array(z.string()).describe("What the user can show: totp, recovery_code, passkey, …"),
  methodOptions: z
    .record(z.string(), z.unknown())
    .describe("Per method, what the client needs to answer (e.g. WebAuthn request options)."),
  expiresAt: Timestamp,
});
export const SignInResult = z
  .union([IssuedSession, MfaChallenge])
  .describe("A session, or an MFA challenge (`mfaRequired: true`) to complete with `POST /v1/auth/mfa/verify`.");
export const MfaFactor = z.object({
  id: z.string(),
  kind: z.string().describe("totp"),
  createdAt: Timestamp,
  confirmedAt: Timestamp.nullable(),
  lastUsedAt: Timestamp.nullable(),
});
export const MfaFactors = z.object({
  data: z.array(MfaFactor),
  recoveryCodesLeft: z.number().int(),
  nextCursor: z.null(),
});
export const TotpEnrolment = z.object({
  factorId: z.string(),
  secret: z.string().nullable().describe("The Base32 TOTP secret, shown once."),
  otpauthUri: z.string().nullable().describe("`otpauth://totp/…` for a QR code, shown once."),
});
export const ConfirmTotpInput = z.strictObject({ code: Code });
export const RecoveryCodes = z.object({
  recoveryCodes: z.array(z.string()).nullable().describe("Shown once; each works once. Earlier codes stop working."),
});
export const MfaProofInput = z
  .strictObject({
    code: Code.optional().describe("A TOTP code."),
    recoveryCode: Code.optional(),
    method: z.string().max(40).optional().describe("Another registered method (e.g. passkey)."),
    response: z.record(z.string(), z.unknown()).optional().describe("The method's answer (e.g. a WebAuthn assertion)."),
  })
  .refine((p) => [p.code, p.recoveryCode, p.response].filter((v) => v !== undefined).length === 1, {
    message: "give exactly one of code, recoveryCode or response",
  });
export const VerifyMfaInput = z
  .strictObject({
    surfaceId: z.string().max(64),
    challengeToken: ChallengeToken,
    code: Code.optional().describe("A TOTP code."),
    recoveryCode: Code.optional(),
    method: z.string().max(40).optional().describe("Another registered method (e.g. passkey)."),
    response: z.record(z.string(), z.unknown()).optional().describe("The method's answer (e.g. a WebAuthn assertion)."),
  })
  .refine((p) => [p.code, p.recoveryCode, p.response].filter((v) => v !== undefined).length === 1, {
    message: "give exactly one of code, recoveryCode or response",
  });
export const EnrolWithChallengeInput = z.strictObject({
  surfaceId: z.string().max(64),
  challengeToken: ChallengeToken,
});
export const VerifiedSession = IssuedSession.extend({
  recoveryCodes: z
    .array(z.string())
    .nullable()
    .optional()
    .describe("After enrolling with an `enroll` challenge: the recovery codes, shown once."),
});
export const StepUpResult = z.object({ session: Session });

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
