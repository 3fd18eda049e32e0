import { Decimal } from "decimal.js";

/**
 * Money arithmetic of the billing module: exact decimals, never floating point. `Dec` is a private
 * clone of decimal.js (60 significant digits, half-even), so no other code's global settings
 * change it. Amounts leave this file as integer minor units (`number`, refused past 2^53 - 1).
 */
export const Dec = Decimal.clone({ precision: 60, rounding: Decimal.ROUND_HALF_EVEN, toExpNeg: -40, toExpPos: 60 });
export type Dec = InstanceType<typeof Dec>;

/**
 * CURRENCY_EXPONENTS: ISO 4217 minor-unit exponents of the currencies plans may be priced in
 * (every active code; funds and precious metals left out). A code not listed is refused.
 */
export const CURRENCY_EXPONENTS: Readonly<Record<string, number>> = Object.freeze({
  ...Object.fromEntries(
    (
      "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BRL BSD BTN BWP BYN BZD CAD CDF CHF " +
      "CNY COP CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF " +
      "IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR " +
      "MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD " +
      "SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD UYU UZS VES WST XCD YER ZAR " +
      "ZMW ZWG"
    )
      .split(" ")
      .map((c) => [c, 2]),
  ),
  ...Object.fromEntries(
    "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX VND VUV XAF XOF XPF".split(" ").map((c) => [c, 0]),
  ),
  ...Object.fromEntries("BHD IQD JOD KWD LYD OMR TND".split(" ").map((c) => [c, 3])),
});

/** exponentOf returns a currency's minor-unit exponent. Throws for a currency not listed. */
export function exponentOf(currency: string): number {
  const e = CURRENCY_EXPONENTS[currency];
  if (e === undefined) throw new RangeError(`Unknown currency ${currency}`);
  return e;
}

/**
 * toMinor rounds an exact amount in major units to integer minor units, half to even (banker's
 * rounding: 0.125 USD → 12, 0.135 USD → 14). This is the one rounding of a line. Throws a
 * RangeError when the result is not a safe integer.
 */
export function toMinor(amount: Dec, currency: string): number {
  const minor = amount.mul(new Dec(10).pow(exponentOf(currency))).toDecimalPlaces(0, Dec.ROUND_HALF_EVEN);
  const n = minor.toNumber();
  if (!Number.isSafeInteger(n)) throw new RangeError("Amount out of range");
  return n;
}

/** fromMinor turns integer minor units back into an exact amount in major units. */
export function fromMinor(minor: number, currency: string): Dec {
  return new Dec(minor).div(new Dec(10).pow(exponentOf(currency)));
}

/**
 * decimalOf reads a quantity as an exact decimal: a string as written, a number through its
 * shortest round-trip form (`0.1` is 0.1, not the binary fraction nearest to it).
 */
export function decimalOf(value: string | number): Dec {
  if (typeof value === "number" && !Number.isFinite(value)) throw new RangeError("Not a finite number");
  return new Dec(typeof value === "number" ? String(value) : value);
}

/** formatMinor writes minor units as a plain decimal string in major units (`12345`, USD → `123.45`). */
export function formatMinor(minor: number, currency: string): string {
  return fromMinor(minor, currency).toFixed(exponentOf(currency));
}
