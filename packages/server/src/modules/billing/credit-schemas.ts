import { z } from "zod";
import { paginationQuery } from "../../platform/http/pagination.js";
import { Id, nameSchemas, Timestamp, TimestampInput } from "../../platform/http/schemas.js";
import { CURRENCY_EXPONENTS } from "./internal/money.js";

/** Public shapes of prepaid credits: wallets, grants, the ledger and holds. */

const MAX_CREDITS = 1e15;

/**
 * CreditUnit: an ISO 4217 code (money credits, amounts in its minor units: USD cents) or a custom
 * lower-case key (`tokens`, amounts in whole units of it).
 */
export const CreditUnit = z
  .string()
  .min(1)
  .max(32)
  .refine(
    (u) => Object.hasOwn(CURRENCY_EXPONENTS, u) || /^[a-z][a-z0-9_]*$/.test(u),
    "must be an ISO 4217 currency code (upper case) or a lower-case unit key such as `tokens`",
  )
  .describe("A currency code (amounts in its minor units) or a custom unit key such as `tokens` (whole units).");
export const CreditAmount = z
  .number()
  .int()
  .min(1)
  .max(MAX_CREDITS)
  .describe("A positive whole amount: minor units of a currency, or units of a custom unit.");
const Reference = z.string().min(1).max(200).describe("The caller's reference (an order, a request, an invoice).");
const BlockFeature = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[a-z][a-z0-9_.-]*$/, "must be lower-case letters, digits, `_`, `.` or `-`");

export const CreditSource = z.enum(["plan", "top_up", "operator", "overpayment"]);

export const GrantCreditsInput = z.strictObject({
  tenantId: Id,
  unit: CreditUnit,
  amount: CreditAmount,
  source: z
    .enum(["operator", "top_up"])
    .default("operator")
    .describe("`top_up`: credits the tenant bought; `operator`: credits given."),
  expiresAt: TimestampInput.optional().describe("When what is left of the grant expires; omitted: never."),
  reference: Reference.optional(),
  description: z.string().max(500).default(""),
});
export type GrantCreditsInput = z.infer<typeof GrantCreditsInput>;

export const ConsumeCreditsInput = z.strictObject({
  tenantId: Id,
  unit: CreditUnit,
  amount: CreditAmount,
  reference: Reference.optional(),
});

export const UpdateWalletInput = z.strictObject({
  lowBalanceThreshold: z
    .number()
    .int()
    .min(0)
    .max(MAX_CREDITS)
    .nullable()
    .optional()
    .describe("`credits.low_balance` is recorded once each time the balance falls to it or below; null: never."),
  blockFeature: BlockFeature.nullable()
    .optional()
    .describe(
      "A boolean entitlement billing keeps on while the balance is above zero and off at zero, so the entitlement check blocks an empty wallet; null: none.",
    ),
});

export const ReserveCreditsInput = z.strictObject({
  tenantId: Id,
  unit: CreditUnit,
  amount: CreditAmount,
  ttlSeconds: z
    .number()
    .int()
    .min(1)
    .max(86_400)
    .default(300)
    .describe("The hold gives its credits back when it is neither committed nor released in time."),
  reference: Reference.optional(),
});
export const CommitCreditsInput = z.strictObject({
  amount: z
    .number()
    .int()
    .min(0)
    .max(MAX_CREDITS)
    .describe("What the work actually cost (at most the reserved amount): the rest goes back."),
});

export const ListWalletsQuery = paginationQuery.extend({ tenantId: Id.optional() });
export const ListGrantsQuery = paginationQuery.extend({ tenantId: Id.optional(), walletId: Id.optional() });
export const ListCreditEntriesQuery = paginationQuery.extend({ tenantId: Id.optional(), walletId: Id.optional() });

export const Wallet = z.object({
  id: z.string(),
  tenantId: z.string(),
  unit: z.string(),
  balance: z
    .number()
    .int()
    .describe("What is left to spend: the sum of the wallet's ledger (open holds already taken off)."),
  held: z.number().int().describe("Reserved by open holds (already taken off `balance`)."),
  lowBalanceThreshold: z.number().int().nullable(),
  blockFeature: z.string().nullable(),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});
export type Wallet = z.infer<typeof Wallet>;

export const CreditGrant = z.object({
  id: z.string(),
  walletId: z.string(),
  tenantId: z.string(),
  unit: z.string(),
  source: CreditSource,
  amount: z.number().int(),
  remaining: z.number().int(),
  expiresAt: Timestamp.nullable(),
  expiredAt: Timestamp.nullable(),
  reference: z.string().nullable(),
  description: z.string(),
  createdAt: Timestamp,
});
export type CreditGrant = z.infer<typeof CreditGrant>;

export const CreditEntry = z.object({
  id: z.string(),
  walletId: z.string(),
  tenantId: z.string(),
  grantId: z.string(),
  holdId: z.string().nullable(),
  kind: z.enum(["grant", "consume", "expire", "hold", "release"]),
  amount: z.number().int().describe("The signed change to the grant's remaining credits and the wallet's balance."),
  balanceAfter: z.number().int(),
  reference: z.string().nullable(),
  createdAt: Timestamp,
});
export type CreditEntry = z.infer<typeof CreditEntry>;

export const CreditHold = z.object({
  id: z.string(),
  walletId: z.string(),
  tenantId: z.string(),
  unit: z.string(),
  amount: z.number().int(),
  status: z.enum(["open", "committed", "released", "expired"]),
  committedAmount: z.number().int().nullable(),
  reference: z.string().nullable(),
  expiresAt: Timestamp,
  createdAt: Timestamp,
  updatedAt: Timestamp,
});
export type CreditHold = z.infer<typeof CreditHold>;

export const CreditConsumption = z.object({
  wallet: Wallet,
  amount: z.number().int(),
  entries: z.array(CreditEntry).describe("One `consume` entry per grant drawn on, oldest-expiring first."),
});
export type CreditConsumption = z.infer<typeof CreditConsumption>;

/** PlanCredits: credits a plan version grants at the start of every period (and of a trial). */
export const PlanCredits = z
  .array(
    z.strictObject({
      unit: CreditUnit,
      amount: CreditAmount,
      expiresAfterDays: z
        .number()
        .int()
        .min(1)
        .max(3660)
        .optional()
        .describe("Days after the grant when what is left expires; omitted: never."),
    }),
  )
  .max(20);
export type PlanCredits = z.infer<typeof PlanCredits>;

// The API document's names of this module's resources and inputs (`#/components/schemas/…`).
nameSchemas({
  CommitCreditsInput,
  ConsumeCreditsInput,
  CreditConsumption,
  CreditEntry,
  CreditGrant,
  CreditHold,
  GrantCreditsInput,
  ReserveCreditsInput,
  UpdateWalletInput,
  Wallet,
});
