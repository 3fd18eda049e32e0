/** The identity module's public surface: other modules import only this file. */
export { IdentityErrors } from "./errors.js";
export { identityIds } from "./ids.js";
export { PASSWORD_PROFILES } from "./internal/passwords.js";
export type { SecondFactorProof, SecondFactorSubject, SecondFactorVerifier } from "./internal/second-factors.js";
export { TOKEN_PREFIX as IDENTITY_TOKEN_PREFIX } from "./internal/tokens.js";
export { identityModule } from "./module.js";
export type { Operator, SecretKey, Session, User } from "./schemas.js";
export { IssuedSession, MfaChallenge } from "./schemas.js";
export type { MembershipSummary, MembershipsReader } from "./service/access-tokens.js";
export type { AdminCheck } from "./service/mfa-policy.js";
export type { SignInResult } from "./service/sessions.js";
export type { IdentityService } from "./service.js";
