import { generateSecret, generateURI, verify } from "otplib";

/**
 * TOTP as authenticator apps implement it (RFC 6238): 30-second steps, 6 digits, HMAC-SHA-1, a
 * 160-bit Base32 secret. A code is accepted one step either side of the server's clock.
 */
export const TOTP = { period: 30, digits: 6, algorithm: "sha1", window: 1 } as const;

/** newTotpSecret returns a fresh Base32 secret (20 random bytes). */
export function newTotpSecret(): string {
  return generateSecret({ length: 20 });
}

/** totpUri is the `otpauth://totp/…` URI an authenticator app scans (issuer: the product's name). */
export function totpUri(secret: string, issuer: string, account: string): string {
  return generateURI({
    issuer,
    label: account,
    secret,
    algorithm: TOTP.algorithm,
    digits: TOTP.digits,
    period: TOTP.period,
  });
}

/**
 * matchTotp returns the time step `code` belongs to, when it is right for `secret` at `nowMs`
 * (± one step) and later than `afterStep`; null otherwise. It never throws for a malformed code.
 * NOTE: accepting the step is the caller's business: record it with a conditional update that
 * only a later step passes, so a code is used once even when two requests race.
 */
export async function matchTotp(
  secret: string,
  code: string,
  nowMs: number,
  afterStep: number | null,
): Promise<number | null> {
  if (!/^[0-9]{6}$/.test(code)) return null;
  const result = await verify({
    secret,
    token: code,
    epoch: Math.floor(nowMs / 1000),
    epochTolerance: TOTP.period * TOTP.window,
    period: TOTP.period,
    digits: TOTP.digits,
    algorithm: TOTP.algorithm,
    ...(afterStep === null ? {} : { afterTimeStep: afterStep }),
  }).catch(() => ({ valid: false as const }));
  return result.valid && "timeStep" in result ? result.timeStep : null;
}
