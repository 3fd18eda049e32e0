import { describe, expect, it } from "vitest";
import { periodOf, periodStart } from "./internal/periods.js";

// Billing periods at their edges: month ends, leap years, yearly and weekly plans.

const at = (iso: string) => Date.parse(iso);
const iso = (t: number) => new Date(t).toISOString();

describe("billing periods", () => {
  it("a month-end anchor stays at the month end: Jan 31 → Feb 28 → Mar 31 → Apr 30", () => {
    const anchor = at("2027-01-31T10:00:00Z");
    expect([0, 1, 2, 3, 12].map((n) => iso(periodStart(anchor, "month", n)))).toEqual([
      "2027-01-31T10:00:00.000Z",
      "2027-02-28T10:00:00.000Z",
      "2027-03-31T10:00:00.000Z",
      "2027-04-30T10:00:00.000Z",
      "2028-01-31T10:00:00.000Z",
    ]);
  });

  it("Feb 29 in a leap year; a yearly Feb 29 anchor renews on Feb 28 in common years", () => {
    expect(iso(periodStart(at("2028-01-30T00:00:00Z"), "month", 1))).toBe("2028-02-29T00:00:00.000Z");
    const leap = at("2028-02-29T12:30:00Z");
    expect([1, 4].map((n) => iso(periodStart(leap, "year", n)))).toEqual([
      "2029-02-28T12:30:00.000Z",
      "2032-02-29T12:30:00.000Z",
    ]);
  });

  it("periods tile time: each ends where the next starts, across a year of months and weeks", () => {
    for (const interval of ["week", "month", "year"] as const) {
      const anchor = at("2027-03-31T23:59:00Z");
      for (let n = 0; n < 60; n++) {
        const p = periodOf(anchor, interval, n);
        expect(p.end).toBe(periodOf(anchor, interval, n + 1).start);
        expect(p.end).toBeGreaterThan(p.start);
      }
    }
    expect(periodOf(at("2027-03-27T00:00:00Z"), "week", 1)).toMatchObject({
      start: at("2027-04-03T00:00:00Z"),
      end: at("2027-04-10T00:00:00Z"),
    });
  });
});
