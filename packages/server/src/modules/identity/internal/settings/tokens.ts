import { z } from "zod";

/** TokenSettings: short-lived JWT access tokens for the surface's sessions. */
export const TokenSettings = z.strictObject({
  accessTokens: z.boolean().default(false).describe("Issue a JWT access token with every session."),
  accessTokenTtlSeconds: z.number().int().min(60).max(3600).default(300),
});
