import { parseToken } from "../crypto.js";
import { AppError, PlatformErrors } from "../errors.js";
import type { Principal, RequestInfo } from "../principal.js";

/**
 * CredentialResolver turns one kind of bearer token into a principal. Modules register them
 * (identity: secret keys, sessions, operator tokens; access: tenant and agent keys). `resolve`
 * receives a token whose prefix and checksum were already verified; it returns null for an
 * unknown, revoked or expired credential, or throws an `AppError` for a more specific refusal.
 */
export interface CredentialResolver {
  kind: string;
  prefix: string;
  resolve(token: string, request: RequestInfo): Promise<Principal | null>;
}

// The scheme name is case-insensitive (RFC 9110 §11.1); the token is not.
const BEARER = /^Bearer ([\x21-\x7e]{1,512})$/i;

/**
 * CredentialResolvers is the one principal-resolution seam: every request's `Authorization`
 * header goes through `resolve`, which picks the resolver by token prefix.
 */
export class CredentialResolvers {
  readonly #resolvers: CredentialResolver[] = [];

  register(resolver: CredentialResolver): void {
    if (this.#resolvers.some((r) => r.prefix.startsWith(resolver.prefix) || resolver.prefix.startsWith(r.prefix))) {
      throw new Error(`Credential prefix "${resolver.prefix}" overlaps another resolver`);
    }
    this.#resolvers.push(resolver);
  }

  get prefixes(): string[] {
    return this.#resolvers.map((r) => r.prefix);
  }

  /**
   * resolve returns the principal for an `Authorization` header, null when there is none, and
   * throws 401 `invalid_credentials` for a malformed header, an unknown token kind, a bad
   * checksum, or a credential its resolver does not accept.
   */
  async resolve(header: string | undefined, request: RequestInfo): Promise<Principal | null> {
    if (header === undefined || header === "") return null;
    const match = BEARER.exec(header);
    if (!match?.[1]) throw invalid("The Authorization header must be `Bearer <token>`.");
    const token = match[1];
    const parsed = parseToken(token, this.prefixes);
    if (!parsed) throw invalid("The bearer token is malformed, of an unknown kind, or mistyped.");
    const resolver = this.#resolvers.find((r) => r.prefix === parsed.prefix);
    const principal = resolver ? await resolver.resolve(token, request) : null;
    if (!principal) throw invalid("The bearer token is not valid: unknown, revoked or expired.");
    return principal;
  }
}

function invalid(detail: string): AppError {
  return new AppError(PlatformErrors.invalid_credentials, detail, {
    headers: { "www-authenticate": 'Bearer error="invalid_token"' },
  });
}
