import { z } from "zod";
import { Timestamp } from "../../platform/http/schemas.js";

const unit = z.string();
const amount = z.number().int();
const balance = z.number().int().describe("The wallet's balance after the change.");

/** CREDIT_FACTS: the facts prepaid credits record (declared in the billing module's definition). */
export const CREDIT_FACTS = {
  "credits.granted": {
    description:
      "Credits were added to a tenant's wallet (a plan's period grant, a top-up, an operator, an overpayment).",
    data: z.object({
      unit,
      amount,
      source: z.enum(["plan", "top_up", "operator", "overpayment"]),
      expiresAt: Timestamp.nullable(),
      balance,
    }),
  },
  "credits.consumed": {
    description: "Credits were spent at once (`reference`: the caller's, or the invoice they paid towards).",
    data: z.object({ unit, amount, balance, reference: z.string().nullable() }),
  },
  "credits.expired": {
    description: "What was left of a grant expired.",
    data: z.object({ unit, amount, balance }),
  },
  "credits.low_balance": {
    description: "A wallet's balance fell to its low-balance threshold or below (once per crossing).",
    data: z.object({ unit, balance, threshold: z.number().int().nullable() }),
  },
  "credits.depleted": {
    description: "A wallet's balance reached zero (its blocking feature, if any, is switched off).",
    data: z.object({ unit }),
  },
  "credit_wallet.updated": {
    description: "A wallet's low-balance threshold or blocking feature changed (`changes`: before/after).",
  },
  "credit_hold.reserved": {
    description: "Credits were reserved (taken off the balance) until committed, released or expired.",
    data: z.object({ unit, amount, expiresAt: Timestamp, balance }),
  },
  "credit_hold.committed": {
    description: "A hold was committed: `committedAmount` stays spent, the rest went back.",
    data: z.object({ unit, amount, committedAmount: amount, balance }),
  },
  "credit_hold.released": {
    description: "A hold was released: its credits went back.",
    data: z.object({ unit, amount, balance }),
  },
  "credit_hold.expired": {
    description: "A hold's TTL passed before it was committed or released: its credits went back.",
    data: z.object({ unit, amount, balance }),
  },
} as const;
