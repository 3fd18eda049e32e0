import { z } from "zod";
import { nameSchemas, Timestamp } from "../../platform/http/schemas.js";

export const ReviewFormat = z.enum(["json", "markdown", "html", "pdf"]);
export type ReviewFormat = z.infer<typeof ReviewFormat>;

export const ReviewQuery = z.strictObject({
  format: ReviewFormat.default("json").describe(
    "`json`: the signed report; `markdown`, `html`: the report for people, with the signed JSON inside (verifiable); `pdf`: for people, with the signature's digest.",
  ),
  periodDays: z.coerce
    .number()
    .int()
    .min(1)
    .max(366)
    .default(30)
    .describe('How many days back the report\'s "in the period" figures (deliveries, support accesses) go.'),
});

const Value = z.union([z.string(), z.number(), z.boolean(), z.null()]);

export const ReviewBlock = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("text"), text: z.string() }),
  z.object({ kind: z.literal("facts"), items: z.array(z.object({ label: z.string(), value: Value })) }),
  z.object({
    kind: z.literal("table"),
    caption: z.string(),
    columns: z.array(z.string()),
    rows: z.array(z.array(Value)),
    more: z.number().int().describe("Rows left out (a table shows at most 50)."),
  }),
  z.object({ kind: z.literal("check"), label: z.string(), ok: z.boolean(), detail: z.string() }),
]);

export const ReviewReport = z.object({
  v: z.literal(1),
  kind: z.literal("baseplate.review"),
  generatedAt: Timestamp,
  period: z.object({ from: Timestamp, to: Timestamp }),
  plane: z.object({ version: z.string(), engine: z.string() }),
  environment: z.object({ id: z.string(), name: z.string().nullable(), production: z.boolean() }),
  tenant: z.object({ id: z.string(), name: z.string().nullable() }).nullable(),
  audit: z
    .object({
      chain: z.string(),
      size: z.number().int().describe("Entries in the chain at report time."),
      headHash: z.string().nullable(),
      checkpoint: z
        .object({ size: z.number().int(), time: Timestamp, keyId: z.string(), checkpointHash: z.string() })
        .nullable()
        .describe("The chain's latest signed checkpoint at report time."),
    })
    .describe("The report's chain (the tenant's, or the environment's) as it stood when the report was taken."),
  topics: z.array(
    z.object({
      topic: z.string(),
      title: z.string(),
      question: z.string(),
      parts: z.array(
        z.object({
          name: z.string(),
          title: z.string(),
          blocks: z.array(ReviewBlock),
          figures: z.record(z.string(), Value),
        }),
      ),
    }),
  ),
  signing: z.object({ algorithm: z.literal("Ed25519"), keyId: z.string() }),
});
export type ReviewReport = z.infer<typeof ReviewReport>;

export const SignedReview = z.object({
  report: ReviewReport,
  signature: z
    .string()
    .describe(
      "Ed25519 over the report's canonical JSON (RFC 8785), base64, with the audit signing key `report.signing.keyId`.",
    ),
});
export type SignedReview = z.infer<typeof SignedReview>;

nameSchemas({ ReviewReport, SignedReview, ReviewBlock });
