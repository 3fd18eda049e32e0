import { describe, expect, it } from "vitest";
import { periodOf, periodStart, trialEnd } from "./internal/periods.js";

// Billing periods at their edges: month ends, leap years, yearly and weekly plans, time zones and
// daylight-saving changes (periods keep the local time of day; skipped wall times move to the gap's end).

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

  it("follows the zone's wall clock across daylight saving: a month or week keeps its local time of day", () => {
    const ny = "America/New_York";
    // 2027-03-01 00:00 EST (UTC-5) → 2027-04-01 00:00 EDT (UTC-4): the period is 31 days less an hour.
    const anchor = at("2027-03-01T05:00:00Z");
    expect(iso(periodStart(anchor, "month", 1, ny))).toBe("2027-04-01T04:00:00.000Z");
    expect(iso(periodStart(anchor, "month", 8, ny))).toBe("2027-11-01T04:00:00.000Z");
    expect(iso(periodStart(anchor, "month", 9, ny))).toBe("2027-12-01T05:00:00.000Z");
    // A week spanning the spring change (Mar 14, 2027) is 167 hours; one spanning the fall change, 169.
    const monday = at("2027-03-08T14:00:00Z"); // 09:00 EST
    expect(periodOf(monday, "week", 0, ny).end - monday).toBe(167 * 3_600_000);
    const fall = at("2027-11-01T13:00:00Z"); // 09:00 EDT, the week of Nov 7
    expect(periodOf(fall, "week", 0, ny).end - fall).toBe(169 * 3_600_000);
    // A trial of 7 days across the change ends at the same local time.
    expect(iso(trialEnd(at("2027-03-10T17:00:00Z"), 7, ny))).toBe("2027-03-17T16:00:00.000Z");
    expect(trialEnd(at("2027-03-10T17:00:00Z"), 7)).toBe(at("2027-03-17T17:00:00Z"));
  });

  it("a wall time the spring gap skips starts at the gap's end; later periods return to the anchor's time", () => {
    const ny = "America/New_York";
    const anchor = at("2027-02-14T07:30:00Z"); // 02:30 EST; 2027-03-14 02:30 does not exist
    expect([1, 2].map((n) => iso(periodStart(anchor, "month", n, ny)))).toEqual([
      "2027-03-14T07:00:00.000Z", // 03:00 EDT, the end of the gap
      "2027-04-14T06:30:00.000Z", // 02:30 EDT
    ]);
  });

  it("month ends are the zone's: Jan 31 in Tokyo is Jan 30 in UTC", () => {
    const tokyo = "Asia/Tokyo";
    const anchor = at("2027-01-30T23:00:00Z"); // 2027-01-31 08:00 in Tokyo
    expect([1, 2].map((n) => iso(periodStart(anchor, "month", n, tokyo)))).toEqual([
      "2027-02-27T23:00:00.000Z", // Feb 28 08:00 Tokyo
      "2027-03-30T23:00:00.000Z", // Mar 31 08:00 Tokyo
    ]);
    expect(iso(periodStart(anchor, "month", 1))).toBe("2027-02-28T23:00:00.000Z");
  });

  it("periods tile time in any zone, for years of months and weeks", () => {
    for (const zone of ["America/New_York", "Europe/London", "Australia/Lord_Howe", "Asia/Kolkata"]) {
      for (const interval of ["week", "month", "year"] as const) {
        const anchor = at("2027-03-31T01:30:00Z");
        for (let n = 0; n < 60; n++) {
          const p = periodOf(anchor, interval, n, zone);
          expect(p.end).toBe(periodOf(anchor, interval, n + 1, zone).start);
          expect(p.end).toBeGreaterThan(p.start);
        }
      }
    }
  });
});
