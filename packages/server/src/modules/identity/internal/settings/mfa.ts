import { z } from "zod";

/** MfaSettings: who must show a second factor, and how recent one must be for sensitive routes. */
export const MfaSettings = z.strictObject({
  policy: z
    .enum(["optional", "required", "required_for_admins"])
    .default("optional")
    .describe("`required_for_admins`: users holding an admin role in any tenant must enrol."),
  stepUpMaxAgeSeconds: z
    .number()
    .int()
    .min(60)
    .max(86_400)
    .default(900)
    .describe("How recent a second factor must be for sensitive routes (key creation, role changes, MFA removal)."),
});
