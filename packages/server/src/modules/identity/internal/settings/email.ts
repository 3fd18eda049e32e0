import { z } from "zod";

/** EmailSettings: how a surface's mails look and which flows need a proven address. */
export const EmailSettings = z.strictObject({
  requireVerification: z
    .boolean()
    .default(false)
    .describe("Refuse password login until the user proved the address (a verification mail is sent instead)."),
  sendVerificationOnSignup: z
    .boolean()
    .default(true)
    .describe("Mail a verification link on self sign-up (when `appUrl` is set)."),
  productName: z
    .string()
    .trim()
    .min(1)
    .max(100)
    .nullable()
    .default(null)
    .describe("Shown in mails; the surface name when null."),
  appUrl: z
    .url({ protocol: /^https?$/ })
    .max(500)
    .nullable()
    .default(null)
    .describe("The product's address; links in mails point to `<appUrl>/auth/<flow>?token=…`."),
  senderName: z.string().trim().min(1).max(100).nullable().default(null),
  senderAddress: z
    .email()
    .max(254)
    .nullable()
    .default(null)
    .describe("The From address; BASEPLATE_MAIL_FROM when null."),
});
