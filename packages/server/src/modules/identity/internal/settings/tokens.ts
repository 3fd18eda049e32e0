import { z } from "zod";

/** ACCESS_TOKEN_MAX_TTL_SECONDS: the longest access token a surface may ask for (a retiring signing key stays published this long). */
export const ACCESS_TOKEN_MAX_TTL_SECONDS = 3600;

/** TokenSettings: short-lived JWT access tokens (and rotating refresh tokens) for the surface's sessions. */
export const TokenSettings = z.strictObject({
  accessTokens: z
    .boolean()
    .default(false)
    .describe("Issue a JWT access token and a refresh token with every session opened through the surface."),
  accessTokenTtlSeconds: z.number().int().min(60).max(ACCESS_TOKEN_MAX_TTL_SECONDS).default(300),
});
