import { z } from "zod";

/** PasskeySettings: the WebAuthn relying party of a surface. */
export const PasskeySettings = z.strictObject({
  enabled: z.boolean().default(false),
  rpId: z
    .string()
    .trim()
    .max(253)
    .regex(/^[a-z0-9.-]+$/)
    .nullable()
    .default(null)
    .describe("The relying-party id (a registrable domain, e.g. `example.com`)."),
  rpName: z.string().trim().min(1).max(100).nullable().default(null),
  origins: z
    .array(z.url({ protocol: /^https?$/ }).max(500))
    .max(20)
    .default([])
    .describe("Origins the browser may report; the surface's allowed origins when empty."),
});
export type PasskeySettings = z.infer<typeof PasskeySettings>;
