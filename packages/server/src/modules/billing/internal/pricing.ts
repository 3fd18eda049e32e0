import { Dec, decimalOf, exponentOf, toMinor } from "./money.js";

/**
 * The pricing engine: pure functions from a charge and a quantity to an exact amount and one
 * rounded total. Every price is a decimal string in major units of the plan's currency (up to 12
 * decimal places: `"0.0000021"` per token); every quantity an exact decimal. The amount of a line
 * is computed exactly, then rounded once, half to even, to integer minor units (`toMinor`).
 *
 * Models (`freeUnits` are taken off the quantity first, for every model):
 * - `per_unit`: billable × unitPrice.
 * - `graduated`: each tier prices the units that fall in it, (previous upTo, upTo]; a tier's
 *   `flatFee` is added once when any unit falls in it.
 * - `volume`: every unit at the price of the tier the whole billable quantity falls in (the first
 *   tier with billable ≤ upTo), plus that tier's `flatFee`; nothing when billable is 0.
 * - `package`: ⌈billable / packageSize⌉ × packagePrice.
 * - `percentage`: billable (a summed value, e.g. an amount transacted) × percent / 100.
 * `minimum` (major units) is the least the line costs, applied to the rounded total: a line whose
 * total is below it costs the minimum, usage or not.
 */

export interface Tier {
  /** upTo: the last unit of the tier (inclusive); null for the last tier, which has no end. */
  upTo: string | null;
  unitPrice: string;
  flatFee?: string | undefined;
}

interface ChargeBase {
  freeUnits?: string | undefined;
  minimum?: string | undefined;
}

export type ChargeModel =
  | ({ model: "per_unit"; unitPrice: string } & ChargeBase)
  | ({ model: "graduated"; tiers: Tier[] } & ChargeBase)
  | ({ model: "volume"; tiers: Tier[] } & ChargeBase)
  | ({ model: "package"; packageSize: string; packagePrice: string } & ChargeBase)
  | ({ model: "percentage"; percent: string } & ChargeBase);

/** AppliedTier is one step of a line's computation: how many units, at what price, for how much. */
export interface AppliedTier {
  from: string;
  upTo: string | null;
  units: string;
  unitPrice: string;
  flatFee: string;
  amount: string;
}

/** PricedLine: the exact amount, the one rounded total (minor units) and how it was reached. */
export interface PricedLine {
  quantity: string;
  billableQuantity: string;
  /** amount: exact, in major units, before rounding and before the minimum. */
  amount: string;
  total: number;
  minimumApplied: boolean;
  tiers: AppliedTier[];
}

/** PRICE_PATTERN: a non-negative decimal with at most 12 decimal places (and 12 integer digits). */
export const PRICE_PATTERN = /^(0|[1-9]\d{0,11})(\.\d{1,12})?$/;
/** QUANTITY_PATTERN: a non-negative decimal quantity (tier bounds, free units, package sizes). */
export const QUANTITY_PATTERN = /^(0|[1-9]\d{0,17})(\.\d{1,12})?$/;

/**
 * tierProblem returns why a tier table is unusable, or null: at least one tier, each bound above
 * the one before, and only the last without a bound.
 */
export function tierProblem(tiers: readonly Tier[]): string | null {
  if (tiers.length === 0) return "at least one tier";
  let prev = new Dec(0);
  for (const [i, t] of tiers.entries()) {
    const last = i === tiers.length - 1;
    if (t.upTo === null) {
      if (!last) return "only the last tier may have no `upTo`";
      continue;
    }
    if (last) return "the last tier must have `upTo: null`";
    const upTo = new Dec(t.upTo);
    if (!upTo.gt(prev)) return "each `upTo` must be greater than the one before (and than 0)";
    prev = upTo;
  }
  return null;
}

/** priceCharge prices `quantity` under `charge` in `currency`. Pure; throws only on an invalid charge. */
export function priceCharge(charge: ChargeModel, quantity: string | number, currency: string): PricedLine {
  exponentOf(currency);
  const q = decimalOf(quantity);
  const free = new Dec(charge.freeUnits ?? "0");
  const billable = Dec.max(0, q.sub(free));
  const tiers = applied(charge, billable);
  const amount = tiers.reduce((sum, t) => sum.add(t.amount), new Dec(0));
  const rounded = toMinor(amount, currency);
  const minimum = charge.minimum === undefined ? 0 : toMinor(new Dec(charge.minimum), currency);
  return {
    quantity: q.toFixed(),
    billableQuantity: billable.toFixed(),
    amount: amount.toFixed(),
    total: Math.max(rounded, minimum),
    minimumApplied: minimum > rounded,
    tiers,
  };
}

function step(from: Dec, upTo: Dec | null, units: Dec, unitPrice: Dec, flatFee: Dec): AppliedTier {
  return {
    from: from.toFixed(),
    upTo: upTo === null ? null : upTo.toFixed(),
    units: units.toFixed(),
    unitPrice: unitPrice.toFixed(),
    flatFee: flatFee.toFixed(),
    amount: units.mul(unitPrice).add(flatFee).toFixed(),
  };
}

function applied(charge: ChargeModel, billable: Dec): AppliedTier[] {
  const zero = new Dec(0);
  switch (charge.model) {
    case "per_unit":
      return [step(zero, null, billable, new Dec(charge.unitPrice), zero)];
    case "package": {
      const size = new Dec(charge.packageSize);
      if (!size.gt(0)) throw new RangeError("packageSize must be positive");
      const packages = billable.div(size).ceil();
      return [step(zero, null, packages, new Dec(charge.packagePrice), zero)];
    }
    case "percentage":
      return [step(zero, null, billable, new Dec(charge.percent).div(100), zero)];
    case "graduated": {
      const problem = tierProblem(charge.tiers);
      if (problem) throw new RangeError(problem);
      const out: AppliedTier[] = [];
      let from = zero;
      for (const t of charge.tiers) {
        if (!billable.gt(from)) break;
        const upTo = t.upTo === null ? null : new Dec(t.upTo);
        const top = upTo === null ? billable : Dec.min(billable, upTo);
        out.push(step(from, upTo, top.sub(from), new Dec(t.unitPrice), new Dec(t.flatFee ?? "0")));
        if (upTo === null) break;
        from = upTo;
      }
      return out;
    }
    case "volume": {
      const problem = tierProblem(charge.tiers);
      if (problem) throw new RangeError(problem);
      if (billable.isZero()) return [];
      let from = zero;
      for (const t of charge.tiers) {
        const upTo = t.upTo === null ? null : new Dec(t.upTo);
        if (upTo === null || billable.lte(upTo)) {
          return [step(from, upTo, billable, new Dec(t.unitPrice), new Dec(t.flatFee ?? "0"))];
        }
        from = upTo;
      }
      throw new RangeError("no tier holds the quantity");
    }
  }
}

/**
 * priceFixed prices a fixed recurring fee for `fraction` of a period (1 for a whole period; a
 * proration is the share of the period left), rounded once like any line.
 */
export function priceFixed(fee: string, currency: string, fraction: Dec = new Dec(1)): number {
  return toMinor(new Dec(fee).mul(fraction), currency);
}
