import { defineErrors } from "../../platform/errors.js";

export const SsoErrors = defineErrors({
  provider_not_found: { status: 404, title: "OIDC provider not found" },
  domain_not_found: { status: 404, title: "Domain not found" },
  insecure_issuer: { status: 422, title: "The issuer URL is not allowed" },
  invalid_default_role: { status: 422, title: "The default role cannot be given by sign-in" },
  redirect_uri_not_allowed: { status: 422, title: "The redirect URI is not on one of the surface's allowed origins" },
  sso_not_configured: { status: 422, title: "No single sign-on applies to this address" },
  provider_disabled: { status: 409, title: "The OIDC provider is disabled" },
  oidc_state_invalid: { status: 400, title: "The sign-in state is unknown, used or expired" },
  oidc_callback_invalid: { status: 400, title: "The identity provider's answer was refused" },
  oidc_email_missing: { status: 422, title: "The identity provider gave no email address" },
  account_exists_unverified: {
    status: 409,
    title: "An account with this email exists; the identity provider did not prove the address",
  },
  account_link_not_trusted: {
    status: 409,
    title: "An account with this email exists; this provider is not trusted to link it",
  },
  oidc_signup_disabled: { status: 403, title: "This sign-in would create an account, which is not allowed here" },
  idp_unavailable: { status: 502, title: "The identity provider could not be reached" },
  domain_taken: { status: 409, title: "The domain is already claimed" },
  domain_verification_failed: { status: 422, title: "The domain's TXT record was not found" },
});
