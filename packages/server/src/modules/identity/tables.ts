/** Kysely table types of the identity module. Secrets are stored only as SHA-256 or argon2id hashes. */
export interface OperatorTable {
  id: string;
  email: string;
  name: string;
  role: "admin" | "support";
  password_hash: string;
  disabled_at: number | null;
  created_at: number;
  updated_at: number;
}

export interface OperatorTokenTable {
  id: string;
  operator_id: string;
  kind: "session" | "api";
  name: string;
  token_hash: string;
  created_at: number;
  last_used_at: number;
  expires_at: number | null;
  revoked_at: number | null;
  ip: string | null;
  user_agent: string | null;
}

/** OperatorMfaFactorTable: an operator's TOTP factor (secret sealed under the master key). */
export interface OperatorMfaFactorTable {
  id: string;
  operator_id: string;
  status: "pending" | "active";
  secret: string;
  last_time_step: number | null;
  created_at: number;
  confirmed_at: number | null;
  last_used_at: number | null;
}

/** OperatorRecoveryCodeTable: an operator's single-use recovery codes (SHA-256). */
export interface OperatorRecoveryCodeTable {
  id: string;
  operator_id: string;
  code_hash: string;
  created_at: number;
  used_at: number | null;
}

export interface UserTable {
  id: string;
  environment_id: string;
  email: string;
  email_normalized: string;
  name: string | null;
  profile: unknown;
  password_hash: string | null;
  disabled_at: number | null;
  /** email_verified_at: when the user proved the address (a mailed link, or an IdP that asserts it). */
  email_verified_at: number | null;
  created_at: number;
  updated_at: number;
}

export interface SessionTable {
  id: string;
  environment_id: string;
  user_id: string;
  surface_id: string;
  token_hash: string;
  created_at: number;
  last_used_at: number;
  expires_at: number;
  revoked_at: number | null;
  ip: string | null;
  user_agent: string | null;
  /** auth_method: how the session was opened (see `AuthMethod`). */
  auth_method: string;
  /** aal: the authentication level: 1 after one factor, 2 after a second one. */
  aal: number;
  /** second_factor_at: when a second factor was last shown in this session (step-up). */
  second_factor_at: number | null;
}

/** SurfaceAuthTable: a surface's sign-in settings (`internal/settings`), one JSON document. */
export interface SurfaceAuthTable {
  surface_id: string;
  environment_id: string;
  settings: unknown;
  created_at: number;
  updated_at: number;
}

export interface PasswordResetTable {
  id: string;
  environment_id: string;
  user_id: string;
  token_hash: string;
  created_at: number;
  expires_at: number;
  used_at: number | null;
  /** surface_id: the surface a mailed reset link was issued for (null: a token the product delivers). */
  surface_id: string | null;
}

/** MailStatus: queued (waiting or retrying), sent, failed (gave up), logged (no SMTP configured). */
export type MailStatus = "queued" | "sent" | "failed" | "logged";

/** MailOutboxTable: every mail the plane sends; bodies of token-carrying mails are blanked once sent. */
export interface MailOutboxTable {
  id: string;
  environment_id: string;
  surface_id: string | null;
  to_address: string;
  subject: string;
  text: string | null;
  html: string | null;
  template: string;
  status: MailStatus;
  attempts: number;
  last_error: string | null;
  created_at: number;
  sent_at: number | null;
}

/** MailTemplateTable: a surface's override of one built-in mail template. */
export interface MailTemplateTable {
  surface_id: string;
  template: string;
  environment_id: string;
  subject: string;
  text: string;
  html: string;
  updated_at: number;
}

/** EmailTokenTable: single-use tokens of the mailed flows, bound to a surface, stored as SHA-256. */
export interface EmailTokenTable {
  id: string;
  environment_id: string;
  surface_id: string;
  user_id: string;
  purpose: "verify_email" | "magic_link" | "email_change";
  token_hash: string;
  /** new_email: the address an email change moves to. */
  new_email: string | null;
  created_at: number;
  expires_at: number;
  used_at: number | null;
}

export interface SecretKeyTable {
  id: string;
  environment_id: string;
  surface_id: string;
  name: string;
  token_hash: string;
  display: string;
  scopes: unknown;
  created_by: string;
  created_at: number;
  expires_at: number | null;
  revoked_at: number | null;
  last_used_at: number | null;
  replaced_by: string | null;
}

/** ThrottleCounterTable: attempts per (scope, key, window), shared by every process (see `internal/throttle.ts`). */
export interface ThrottleCounterTable {
  scope: string;
  key: string;
  window_start: number;
  count: number;
  expires_at: number;
}

/** SigningKeyTable: an environment's JWT signing key; `private_key` is sealed under the master key. */
export interface SigningKeyTable {
  /** id is the key's `kid`. */
  id: string;
  environment_id: string;
  alg: "EdDSA" | "ES256";
  public_jwk: unknown;
  private_key: string;
  status: "active" | "retiring" | "retired";
  created_at: number;
  /** rotated_at: when a newer key replaced it. */
  rotated_at: number | null;
  /** retires_at: when the last token it signed expires (it leaves the JWKS then). */
  retires_at: number | null;
}

/** RefreshTokenTable: a session's refresh tokens, one family per session, each spent once (SHA-256 only). */
export interface RefreshTokenTable {
  id: string;
  environment_id: string;
  session_id: string;
  family_id: string;
  parent_id: string | null;
  token_hash: string;
  created_at: number;
  expires_at: number;
  used_at: number | null;
  revoked_at: number | null;
}

/** PasskeyTable: a WebAuthn credential of an end user (`credential_id` base64url, unique per environment). */
export interface PasskeyTable {
  id: string;
  environment_id: string;
  user_id: string;
  /** surface_id: where it was registered; it signs in on every surface of the same `rp_id`. */
  surface_id: string;
  rp_id: string;
  credential_id: string;
  /** public_key: the COSE public key (not a secret). */
  public_key: Uint8Array;
  counter: number;
  transports: unknown;
  aaguid: string;
  backed_up: boolean | number;
  name: string;
  created_at: number;
  last_used_at: number | null;
  revoked_at: number | null;
}

/** PasskeyChallengeTable: one WebAuthn ceremony's challenge, stored as SHA-256, single use. */
export interface PasskeyChallengeTable {
  id: string;
  environment_id: string;
  surface_id: string;
  /** user_id: the user the ceremony is for (null: a discoverable sign-in, anyone's passkey). */
  user_id: string | null;
  purpose: "registration" | "login" | "second_factor";
  challenge_hash: string;
  created_at: number;
  expires_at: number;
  used_at: number | null;
}

/** MfaFactorTable: a user's second factor (`kind` totp; passkeys keep their own table). */
export interface MfaFactorTable {
  id: string;
  environment_id: string;
  user_id: string;
  kind: string;
  /** status: `pending` until a first code confirms it, then `active`. */
  status: "pending" | "active";
  /** secret: the TOTP secret, sealed under the master key (the row id is its associated data). */
  secret: string | null;
  /** last_time_step: the last TOTP time step accepted; only a later one is accepted next (replay). */
  last_time_step: number | null;
  created_at: number;
  confirmed_at: number | null;
  last_used_at: number | null;
}

/** MfaRecoveryCodeTable: single-use recovery codes, stored as SHA-256. */
export interface MfaRecoveryCodeTable {
  id: string;
  environment_id: string;
  user_id: string;
  code_hash: string;
  created_at: number;
  used_at: number | null;
}

/** MfaChallengeTable: what a first-factor sign-in answers when a second factor is due (token as SHA-256). */
export interface MfaChallengeTable {
  id: string;
  environment_id: string;
  user_id: string;
  surface_id: string;
  token_hash: string;
  /** purpose: `sign_in` (show a factor) or `enroll` (the policy requires one the user lacks). */
  purpose: "sign_in" | "enroll";
  /** first_factor: the sign-in method that was proven (recorded on the session). */
  first_factor: string;
  created_at: number;
  expires_at: number;
  used_at: number | null;
}

export interface IdentityTables {
  mfa_factor: MfaFactorTable;
  mfa_recovery_code: MfaRecoveryCodeTable;
  mfa_challenge: MfaChallengeTable;
  operator: OperatorTable;
  operator_token: OperatorTokenTable;
  operator_mfa_factor: OperatorMfaFactorTable;
  operator_recovery_code: OperatorRecoveryCodeTable;
  user: UserTable;
  session: SessionTable;
  password_reset: PasswordResetTable;
  secret_key: SecretKeyTable;
  throttle_counter: ThrottleCounterTable;
  surface_auth: SurfaceAuthTable;
  signing_key: SigningKeyTable;
  refresh_token: RefreshTokenTable;
  passkey: PasskeyTable;
  passkey_challenge: PasskeyChallengeTable;
  mail_outbox: MailOutboxTable;
  mail_template: MailTemplateTable;
  email_token: EmailTokenTable;
}
