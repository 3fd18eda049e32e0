import { defineErrors } from "../../platform/errors.js";

export const IdentityErrors = defineErrors({
  invalid_login: { status: 401, title: "The email or password is wrong" },
  current_password_wrong: { status: 403, title: "The current password is wrong" },
  self_signup_disabled: { status: 403, title: "This surface does not allow self sign-up" },
  user_disabled: { status: 403, title: "The user is disabled" },
  operator_not_found: { status: 404, title: "Operator not found" },
  user_not_found: { status: 404, title: "User not found" },
  session_not_found: { status: 404, title: "Session not found" },
  session_expired: { status: 401, title: "The session expired" },
  secret_key_not_found: { status: 404, title: "Secret key not found" },
  operator_token_not_found: { status: 404, title: "Operator token not found" },
  email_taken: { status: 409, title: "This email is already registered" },
  last_admin: { status: 409, title: "The plane must keep at least one active admin operator" },
  key_revoked: { status: 409, title: "The key is revoked" },
  password_changed: { status: 409, title: "The password changed meanwhile" },
  weak_password: { status: 422, title: "The password is too weak" },
  invalid_reset_token: { status: 400, title: "The password reset token is invalid or expired" },
  scope_exceeds_ceiling: { status: 422, title: "The scopes exceed the surface's ceiling" },
  too_many_attempts: { status: 429, title: "Too many failed attempts" },
  too_many_logins: { status: 429, title: "Too many logins at once from this client" },
  hashing_busy: { status: 503, title: "Too many logins at once" },
});
