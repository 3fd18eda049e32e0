import { z } from "zod";
import { refuseCredentialLikeKeys } from "../../platform/facts/index.js";
import { paginationQuery } from "../../platform/http/pagination.js";
import { nameSchemas, Timestamp, TimestampInput } from "../../platform/http/schemas.js";
import { isPermission } from "../../platform/permissions.js";
import { MAIL_LIMITS, MailTemplateName } from "./internal/mail/templates.js";
import { AuthSettings } from "./internal/settings/index.js";

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
const Future = TimestampInput.describe(
  "A time in the future: an ISO 8601 date-time (epoch milliseconds still accepted).",
);

// Operators
export const OperatorRole = z.enum(["admin", "support"]);
export const Operator = z.object({
  id: z.string(),
  email: z.string(),
  name: z.string(),
  role: OperatorRole,
  disabled: z.boolean(),
  mfa: z.boolean().describe("Two-factor sign-in is on."),
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
export const OperatorLoginInput = z.strictObject({
  email: Email,
  password: Password,
  code: z
    .string()
    .min(1)
    .max(64)
    .optional()
    .describe("With two-factor sign-in on: the authenticator app's current code, or a recovery code."),
});
export const OperatorMfaStatus = z.object({
  operatorId: z.string(),
  enabled: z.boolean().describe("Sign-in takes a code of the operator's authenticator app."),
  pending: z.boolean().describe("An enrolment waits for its first code."),
  enabledAt: Timestamp.nullable(),
  lastUsedAt: Timestamp.nullable(),
  recoveryCodesLeft: z.number().int(),
});
export const OperatorMfaCodeInput = z.strictObject({
  code: z.string().min(1).max(64).describe("The authenticator app's current code, or a recovery code."),
});
export const ResetOperatorMfaInput = z.strictObject({
  reason: z.string().trim().min(3).max(500).describe("Why (recorded in the plane's audit chain)."),
});
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
/** IssuedOperatorToken: a new operator token, with its secret shown once (a create answer). */
export const IssuedOperatorToken = OperatorToken.extend({
  token: z
    .string()
    .nullable()
    .describe(
      "Shown once. Send as `Authorization: Bearer <token>`. Null in an idempotent replay: a token is never stored, so it is shown only once.",
    ),
});
/** OperatorLogin: an operator's new session token (shown once) and the operator it signs in. */
export const OperatorLogin = IssuedOperatorToken.extend({ operator: Operator });

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
  accessToken: z
    .string()
    .nullable()
    .optional()
    .describe(
      "A JWT access token (`typ: at+jwt`), when the surface issues them (`tokens.accessTokens`): verify it with the environment's JWKS. Shown once.",
    ),
  accessTokenExpiresAt: Timestamp.optional().describe("When the access token expires."),
  refreshToken: z
    .string()
    .nullable()
    .optional()
    .describe("Renews the access token at `POST /v1/auth/token/refresh`; spent on use. Shown once."),
});
export const RefreshTokenInput = z.strictObject({ refreshToken: z.string().min(1).max(200) });
export const RefreshedTokens = z.object({
  accessToken: z.string().nullable().describe("A new JWT access token. Shown once."),
  accessTokenExpiresAt: Timestamp,
  refreshToken: z
    .string()
    .nullable()
    .describe("The next refresh token; the one sent is spent. Presenting a spent one again revokes the session."),
});
export const SigningKey = z.object({
  kid: z.string(),
  alg: z.enum(["EdDSA", "ES256"]),
  status: z
    .enum(["active", "retiring", "retired"])
    .describe("`active` signs new tokens; `retiring` still verifies the tokens it signed, until `retiresAt`."),
  createdAt: Timestamp,
  rotatedAt: Timestamp.nullable(),
  retiresAt: Timestamp.nullable(),
});
export type SigningKey = z.infer<typeof SigningKey>;
export const RotateSigningKeyInput = z.strictObject({
  alg: z
    .enum(["EdDSA", "ES256"])
    .optional()
    .describe("The new key's algorithm (default: the current key's, else EdDSA)."),
});
export const Jwk = z.looseObject({ kty: z.string(), kid: z.string(), alg: z.string(), use: z.string() });
export const Jwks = z.object({ keys: z.array(Jwk) });

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
  userId: z.string().describe("Whose factors these are (the session's user)."),
  data: z.array(MfaFactor),
  recoveryCodesLeft: z.number().int(),
  hasMore: z.literal(false),
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
/** IssuedSecretKey: a new secret key, with its token shown once (a create answer). */
export const IssuedSecretKey = SecretKey.extend({
  token: z
    .string()
    .nullable()
    .describe(
      "Shown once; only its hash is stored. Null in an idempotent replay: a token is never stored, so it is shown only once.",
    ),
});
export const ListQuery = paginationQuery.strict();

// Surface sign-in settings
export const SurfaceAuthSettings = z.object({
  surfaceId: z.string(),
  settings: AuthSettings,
  updatedAt: Timestamp.nullable().describe("Null while the surface runs on the defaults."),
});
export { AuthSettingsPatch } from "./internal/settings/index.js";

// Data subject requests
export const UserExport = z.object({
  exportedAt: Timestamp,
  user: User,
  modules: z
    .record(z.string(), z.record(z.string(), z.unknown()))
    .describe(
      "What each module holds about the user: sessions, memberships, invitations, keys, events, audit entries, …",
    ),
});
export const UserErasure = z.object({
  userId: z.string(),
  erasedAt: Timestamp,
  removed: z
    .record(z.string(), z.number().int())
    .describe("What was deleted, revoked or anonymised, as `module.kind`."),
});

// Passkeys (WebAuthn)
const Base64Url = z
  .string()
  .max(16_384)
  .regex(/^[A-Za-z0-9_-]*$/, "must be base64url without padding");
const CredentialId = Base64Url.min(1).max(1366);
const Transports = z.array(z.string().max(32)).max(10);
const CredentialDescriptor = z.object({
  id: z.string(),
  type: z.string().describe("`public-key`."),
  transports: Transports.optional(),
});
export const Passkey = z.object({
  id: z.string(),
  userId: z.string(),
  surfaceId: z.string().describe("The surface it was registered through; it signs in wherever the rpId is the same."),
  rpId: z.string(),
  credentialId: z.string().describe("The WebAuthn credential id (base64url)."),
  name: z.string(),
  transports: z.array(z.string()),
  aaguid: z.string().describe("The authenticator model (all zeros when it does not say)."),
  backedUp: z.boolean().describe("Whether the passkey is synced (e.g. to a password manager)."),
  createdAt: Timestamp,
  lastUsedAt: Timestamp.nullable(),
});
export type Passkey = z.infer<typeof Passkey>;
const PasskeyName = z.string().trim().min(1).max(100);
const Extensions = z.object({
  appid: z.string().optional(),
  credProps: z.boolean().optional(),
  hmacCreateSecret: z.boolean().optional(),
  minPinLength: z.boolean().optional(),
  prf: z.unknown().optional(),
});
export const PasskeyCreationOptions = z
  .object({
    challenge: z.string(),
    rp: z.object({ id: z.string().optional(), name: z.string() }),
    user: z.object({ id: z.string(), name: z.string(), displayName: z.string() }),
    pubKeyCredParams: z.array(z.object({ type: z.string(), alg: z.number().int() })),
    timeout: z.number().int().optional(),
    excludeCredentials: z.array(CredentialDescriptor).optional(),
    authenticatorSelection: z
      .object({
        authenticatorAttachment: z.string().optional(),
        requireResidentKey: z.boolean().optional(),
        residentKey: z.string().optional(),
        userVerification: z.string().optional(),
      })
      .optional(),
    hints: z.array(z.string()).optional(),
    attestation: z.string().optional(),
    attestationFormats: z.array(z.string()).optional(),
    extensions: Extensions.optional(),
  })
  .describe("PublicKeyCredentialCreationOptions as JSON: give it to `navigator.credentials.create`.");
export const PasskeyRequestOptions = z
  .object({
    challenge: z.string(),
    rpId: z.string().optional(),
    timeout: z.number().int().optional(),
    allowCredentials: z.array(CredentialDescriptor).optional(),
    userVerification: z.string().optional(),
    hints: z.array(z.string()).optional(),
    extensions: Extensions.optional(),
  })
  .describe("PublicKeyCredentialRequestOptions as JSON: give it to `navigator.credentials.get`.");
export const PasskeyAssertionOptions = z.object({
  challengeId: z.string().describe("Send it back with the signed answer."),
  options: PasskeyRequestOptions,
});
export const PasskeyRegistrationResponse = z
  .looseObject({
    id: CredentialId,
    rawId: CredentialId,
    type: z.literal("public-key"),
    response: z.looseObject({
      clientDataJSON: Base64Url,
      attestationObject: Base64Url,
      transports: Transports.optional(),
    }),
    clientExtensionResults: z.looseObject({}).default({}),
    authenticatorAttachment: z.string().max(32).optional(),
  })
  .describe("The new credential as JSON (`PublicKeyCredential.toJSON()`).");
export const PasskeyAuthenticationResponse = z
  .looseObject({
    id: CredentialId,
    rawId: CredentialId,
    type: z.literal("public-key"),
    response: z.looseObject({
      clientDataJSON: Base64Url,
      authenticatorData: Base64Url,
      signature: Base64Url,
      userHandle: Base64Url.max(512).nullable().optional(),
    }),
    clientExtensionResults: z.looseObject({}).default({}),
    authenticatorAttachment: z.string().max(32).optional(),
  })
  .describe("The signed assertion as JSON (`PublicKeyCredential.toJSON()`).");
export const VerifyPasskeyRegistrationInput = z.strictObject({
  response: PasskeyRegistrationResponse,
  name: PasskeyName.optional().describe("A name the user recognises; `Passkey` when left out."),
});
export const UpdatePasskeyInput = z.strictObject({ name: PasskeyName });
export const PasskeyLoginOptionsInput = z.strictObject({
  surfaceId: z.string().max(64),
  email: Email.optional().describe(
    "Lists the address's passkeys (for passkeys that are not discoverable); the answer looks the same for an unknown address.",
  ),
});
export const PasskeyLoginInput = z.strictObject({
  surfaceId: z.string().max(64),
  challengeId: z.string().max(64),
  response: PasskeyAuthenticationResponse,
});

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

// The API document's names of this module's resources and inputs (`#/components/schemas/…`).
nameSchemas(
  {
    Accepted,
    ChangePasswordInput,
    ConfirmTotpInput,
    CreateOperatorInput,
    CreateOperatorTokenInput,
    CreateSecretKeyInput,
    CreateUserInput,
    EmailChangeInput,
    EmailRequestInput,
    EmailVerified,
    EnrolWithChallengeInput,
    IssuedOperatorToken,
    IssuedSecretKey,
    IssuedSession,
    Jwk,
    Jwks,
    LoginInput,
    Mail,
    MailTemplate,
    MfaChallenge,
    MfaFactor,
    MfaFactors,
    MfaProofInput,
    Operator,
    OperatorLoginInput,
    OperatorMfaCodeInput,
    OperatorMfaStatus,
    OperatorToken,
    Passkey,
    PasskeyAssertionOptions,
    PasskeyAuthenticationResponse,
    PasskeyCreationOptions,
    PasskeyLoginInput,
    PasskeyLoginOptionsInput,
    PasskeyRegistrationResponse,
    PasskeyRequestOptions,
    PasswordResetToken,
    PasswordResetTokenInput,
    RecoveryCodes,
    RefreshTokenInput,
    RefreshedTokens,
    ResetPasswordInput,
    Revoked,
    RotateSecretKeyInput,
    RotateSigningKeyInput,
    SecretKey,
    Session,
    SignInResult,
    SigningKey,
    SignupInput,
    StepUpResult,
    SurfaceAuthSettings,
    SurfaceMailTemplates,
    TokenInput,
    TotpEnrolment,
    UpdateMailTemplatesInput,
    UpdateOperatorInput,
    UpdatePasskeyInput,
    UpdateUserInput,
    User,
    UserErasure,
    UserExport,
    VerificationMailSent,
    VerifiedSession,
    VerifyMfaInput,
    VerifyPasskeyRegistrationInput,
  },
  {
    User: {
      description: "An end user of an environment (email unique per environment).",
      examples: [
        {
          id: "usr_01JEXQ5B2C4D6E8F0G1H2J3K4M",
          environmentId: "env_01JEXPZ3R8N6H4F2D0B9C7A5E3",
          email: "ann@globex.com",
          name: "Ann Example",
          profile: { locale: "de-DE" },
          hasPassword: true,
          emailVerified: true,
          emailVerifiedAt: "2026-12-01T09:30:00.000Z",
          disabled: false,
          createdAt: "2026-12-01T09:30:00.000Z",
          updatedAt: "2026-12-07T10:15:42.000Z",
        },
      ],
    },
    CreateUserInput: {
      description: "A new end user: an email, and optionally a name, an initial password and a profile.",
      examples: [{ email: "ann@globex.com", name: "Ann Example", password: "a long passphrase of hers" }],
    },
    Session: {
      description: "A signed-in end user's session (its token, `bp_st_…`, is shown only when issued).",
      examples: [
        {
          id: "ses_01JEXQ6D8E0F2G4H6J8K0M2N4P",
          userId: "usr_01JEXQ5B2C4D6E8F0G1H2J3K4M",
          surfaceId: "srf_01JEXPZ9V1W3X5Y7Z9A1B3C5D7",
          createdAt: "2026-12-01T09:30:00.000Z",
          lastUsedAt: "2026-12-07T10:15:42.000Z",
          expiresAt: "2026-12-07T22:15:42.000Z",
          authMethod: "password",
          aal: 1,
          secondFactorAt: null,
          ip: "203.0.113.7",
          userAgent: "Mozilla/5.0",
          current: true,
        },
      ],
    },
  },
);
