import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Dec, formatMinor, toMinor } from "./internal/money.js";
import { type ChargeModel, priceCharge, type Tier, tierProblem } from "./internal/pricing.js";

// The pricing engine against a reference written another way: integer arithmetic on BigInt (every
// price scaled by 10^12), unit by unit, with its own half-even rounding. The two must agree to the
// minor unit for every model, tier table, quantity and currency.

const SCALE = 12n;
const S = 10n ** SCALE;

/** scaled reads a decimal string as an integer count of 10^-12. */
function scaled(s: string): bigint {
  const [int, frac = ""] = s.split(".");
  return BigInt(int as string) * S + BigInt(frac.padEnd(Number(SCALE), "0"));
}

/** halfEven divides n by d (both ≥ 0), rounding half to even. */
function halfEven(n: bigint, d: bigint): bigint {
  const q = n / d;
  const r = n % d;
  if (r * 2n > d) return q + 1n;
  if (r * 2n < d) return q;
  return q % 2n === 0n ? q : q + 1n;
}

/** referenceTotal: the naive recomputation, for integer quantities and free units. */
function referenceTotal(charge: ChargeModel, quantity: number, exponent: number): bigint {
  const free = Number(charge.freeUnits ?? "0");
  const billable = BigInt(Math.max(0, quantity - free));
  let amount = 0n; // in 10^-12 major units (percentage: 10^-14)
  let denominator = S;
  switch (charge.model) {
    case "per_unit":
      for (let u = 0n; u < billable; u++) amount += scaled(charge.unitPrice);
      break;
    case "package": {
      const size = BigInt(charge.packageSize);
      let packages = 0n;
      for (let left = billable; left > 0n; left -= size) packages++;
      amount = packages * scaled(charge.packagePrice);
      break;
    }
    case "percentage":
      amount = billable * scaled(charge.percent);
      denominator = S * 100n;
      break;
    case "graduated": {
      const entered = new Set<number>();
      for (let u = 1n; u <= billable; u++) {
        const i = charge.tiers.findIndex((t) => t.upTo === null || u <= BigInt(t.upTo));
        amount += scaled((charge.tiers[i] as Tier).unitPrice);
        entered.add(i);
      }
      for (const i of entered) amount += scaled(charge.tiers[i]?.flatFee ?? "0");
      break;
    }
    case "volume": {
      if (billable === 0n) break;
      const t = charge.tiers.find((x) => x.upTo === null || billable <= BigInt(x.upTo)) as Tier;
      amount = billable * scaled(t.unitPrice) + scaled(t.flatFee ?? "0");
      break;
    }
  }
  const minor = halfEven(amount * 10n ** BigInt(exponent), denominator);
  const minimum = charge.minimum === undefined ? 0n : halfEven(scaled(charge.minimum) * 10n ** BigInt(exponent), S);
  return minor > minimum ? minor : minimum;
}

const price = fc
  .tuple(fc.integer({ min: 0, max: 999 }), fc.integer({ min: 0, max: 12 }), fc.bigInt({ min: 0n, max: 10n ** 12n }))
  .map(([int, places, frac]) =>
    places === 0 ? String(int) : `${int}.${(frac % 10n ** BigInt(places)).toString().padStart(places, "0")}`,
  );

const tiers = fc.uniqueArray(fc.integer({ min: 1, max: 3000 }), { minLength: 0, maxLength: 5 }).chain((bounds) => {
  const sorted = [...bounds].sort((a, b) => a - b);
  return fc
    .array(fc.record({ unitPrice: price, flatFee: fc.option(price, { nil: undefined }) }), {
      minLength: sorted.length + 1,
      maxLength: sorted.length + 1,
    })
    .map((prices) => prices.map((p, i): Tier => ({ upTo: i < sorted.length ? String(sorted[i]) : null, ...p })));
});

const base = fc.record(
  {
    freeUnits: fc.integer({ min: 0, max: 500 }).map(String),
    minimum: fc.integer({ min: 0, max: 5000 }).map((n) => (n / 100).toFixed(2)),
  },
  { requiredKeys: [] },
);

const charge: fc.Arbitrary<ChargeModel> = fc.oneof(
  fc.tuple(base, price).map(([b, unitPrice]) => ({ model: "per_unit" as const, unitPrice, ...b })),
  fc.tuple(base, tiers).map(([b, t]) => ({ model: "graduated" as const, tiers: t, ...b })),
  fc.tuple(base, tiers).map(([b, t]) => ({ model: "volume" as const, tiers: t, ...b })),
  fc
    .tuple(base, fc.integer({ min: 1, max: 700 }), price)
    .map(([b, size, packagePrice]) => ({ model: "package" as const, packageSize: String(size), packagePrice, ...b })),
  fc.tuple(base, price).map(([b, percent]) => ({ model: "percentage" as const, percent, ...b })),
);

const currency = fc.constantFrom(["USD", 2], ["JPY", 0], ["KWD", 3], ["EUR", 2]) as fc.Arbitrary<[string, number]>;

describe("pricing engine", () => {
  it("every model equals the unit-by-unit reference, to the minor unit", () => {
    fc.assert(
      fc.property(charge, fc.integer({ min: 0, max: 4000 }), currency, (c, quantity, [code, exponent]) => {
        const line = priceCharge(c, quantity, code);
        expect(BigInt(line.total)).toBe(referenceTotal(c, quantity, exponent));
      }),
      { numRuns: 400 },
    );
  });

  it("a line is rounded once: within half a minor unit of its exact amount (unless the minimum applies)", () => {
    fc.assert(
      fc.property(charge, fc.integer({ min: 0, max: 4000 }), currency, (c, quantity, [code, exponent]) => {
        const line = priceCharge(c, quantity, code);
        const exact = new Dec(line.amount).mul(new Dec(10).pow(exponent));
        if (line.minimumApplied) expect(new Dec(line.total).gt(exact)).toBe(true);
        else expect(exact.sub(line.total).abs().lte(new Dec("0.5"))).toBe(true);
        // The applied tiers add up to the amount, and their units to the billable quantity (but package).
        const sum = line.tiers.reduce((s, t) => s.add(t.amount), new Dec(0));
        expect(sum.eq(line.amount)).toBe(true);
        if (c.model === "graduated") {
          expect(line.tiers.reduce((s, t) => s.add(t.units), new Dec(0)).eq(line.billableQuantity)).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("decimal quantities are exact: 0.1 + 0.2 units at a price cost 0.3 units, never a binary fraction", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10 ** 9 }), price, (thousandths, unitPrice) => {
        const quantity = (thousandths / 1000).toString();
        const line = priceCharge({ model: "per_unit", unitPrice }, quantity, "USD");
        const exact = halfEven(BigInt(thousandths) * scaled(unitPrice) * 100n, S * 1000n);
        expect(BigInt(line.total)).toBe(exact);
      }),
      { numRuns: 300 },
    );
  });
});

describe("pricing engine: worked examples", () => {
  it("per-unit at $0.0000021 per token", () => {
    // 1,234,567 × 0.0000021 = 2.5925907 → 259 cents.
    const line = priceCharge({ model: "per_unit", unitPrice: "0.0000021" }, 1_234_567, "USD");
    expect(line).toMatchObject({ amount: "2.5925907", total: 259, billableQuantity: "1234567" });
  });

  it("graduated token pricing: first 1M at $0.000002, the rest at $0.0000015, with 100k free", () => {
    const c: ChargeModel = {
      model: "graduated",
      freeUnits: "100000",
      tiers: [
        { upTo: "1000000", unitPrice: "0.000002" },
        { upTo: null, unitPrice: "0.0000015" },
      ],
    };
    // 1,600,000 − 100,000 free = 1,500,000: 1M × 0.000002 = 2 + 500k × 0.0000015 = 0.75.
    const line = priceCharge(c, 1_600_000, "USD");
    expect(line.total).toBe(275);
    expect(line.tiers).toEqual([
      { from: "0", upTo: "1000000", units: "1000000", unitPrice: "0.000002", flatFee: "0", amount: "2" },
      { from: "1000000", upTo: null, units: "500000", unitPrice: "0.0000015", flatFee: "0", amount: "0.75" },
    ]);
  });

  it("volume: the whole quantity at the price of its tier, plus that tier's flat fee", () => {
    const c: ChargeModel = {
      model: "volume",
      tiers: [
        { upTo: "10", unitPrice: "5", flatFee: "0" },
        { upTo: "100", unitPrice: "4", flatFee: "10" },
        { upTo: null, unitPrice: "3" },
      ],
    };
    expect(priceCharge(c, 10, "USD").total).toBe(5000);
    expect(priceCharge(c, 11, "USD").total).toBe(5400); // 11 × 4 + 10
    expect(priceCharge(c, 101, "USD").total).toBe(30300);
    expect(priceCharge(c, 0, "USD")).toMatchObject({ total: 0, tiers: [] });
  });

  it("package: per started 1,000 units", () => {
    const c: ChargeModel = { model: "package", packageSize: "1000", packagePrice: "2.50" };
    expect(priceCharge(c, 0, "USD").total).toBe(0);
    expect(priceCharge(c, 1, "USD").total).toBe(250);
    expect(priceCharge(c, 1000, "USD").total).toBe(250);
    expect(priceCharge(c, 1001, "USD").total).toBe(500);
  });

  it("percentage of a summed value, with a minimum spend", () => {
    const c: ChargeModel = { model: "percentage", percent: "2.9", minimum: "1.00" };
    expect(priceCharge(c, "1234.56", "USD")).toMatchObject({ amount: "35.80224", total: 3580, minimumApplied: false });
    expect(priceCharge(c, "10", "USD")).toMatchObject({ total: 100, minimumApplied: true });
  });

  it("rounds half to even, once per line, by the currency's exponent", () => {
    expect(toMinor(new Dec("0.125"), "USD")).toBe(12);
    expect(toMinor(new Dec("0.135"), "USD")).toBe(14);
    expect(toMinor(new Dec("0.5"), "JPY")).toBe(0);
    expect(toMinor(new Dec("1.5"), "JPY")).toBe(2);
    expect(toMinor(new Dec("1.0005"), "KWD")).toBe(1000);
    expect(formatMinor(12345, "USD")).toBe("123.45");
    expect(formatMinor(12345, "JPY")).toBe("12345");
    expect(formatMinor(12345, "BHD")).toBe("12.345");
    // 3 × 0.005: rounded per unit it would be 3 × 0 (or 3 × 1); rounded once it is 0.015 → 2.
    expect(priceCharge({ model: "per_unit", unitPrice: "0.005" }, 3, "USD").total).toBe(2);
  });

  it("refuses unusable tier tables and unknown currencies", () => {
    expect(tierProblem([])).toMatch(/at least one/);
    expect(tierProblem([{ upTo: "10", unitPrice: "1" }])).toMatch(/last tier/);
    expect(
      tierProblem([
        { upTo: null, unitPrice: "1" },
        { upTo: null, unitPrice: "1" },
      ]),
    ).toMatch(/only the last/);
    expect(
      tierProblem([
        { upTo: "10", unitPrice: "1" },
        { upTo: "10", unitPrice: "1" },
        { upTo: null, unitPrice: "1" },
      ]),
    ).toMatch(/greater/);
    expect(() => priceCharge({ model: "per_unit", unitPrice: "1" }, 1, "XXX")).toThrow(RangeError);
  });
});
