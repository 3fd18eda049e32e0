import { z } from "zod";

/** SignInSettings: which ways of signing in the surface offers. */
export const SignInSettings = z.strictObject({
  password: z.boolean().default(true),
  magicLink: z.boolean().default(false),
});
