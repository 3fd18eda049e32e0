import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { UsageEventInput } from "./schemas.js";
import { fastParse } from "./service/ingest.js";

// Batches parse events on a fast path; it must accept nothing the schema refuses, and read what it
// accepts exactly as the schema does (anything else falls back to the schema and its messages).

const str = fc.oneof(
  fc.constantFrom("", "a", "callid:x", "hold:y", "llm.call", "x y", "é", "a".repeat(201), "-bad"),
  fc.string({ maxLength: 12 }),
);
const time = fc.oneof(
  fc.constantFrom(
    "2026-04-10T12:00:00Z",
    "2026-04-10T12:00:00.123+02:00",
    "2026-02-31T00:00:00Z",
    "2026-13-01T00:00:00Z",
    "2026-04-10T24:00:00Z",
    "2026-04-10T12:00:60Z",
    "2026-04-10 12:00:00Z",
    "2026-04-10T12:00:00+0200",
    "2024-02-29T00:00:00Z",
    "2025-02-29T00:00:00Z",
  ),
  fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
);
const value = fc.oneof(
  str,
  fc.integer(),
  fc.constant(null),
  fc.constant(undefined),
  fc.array(fc.integer(), { maxLength: 2 }),
);
const event = fc.record(
  {
    id: fc.oneof(str, fc.integer()),
    callId: str,
    type: fc.oneof(str, fc.constantFrom("llm.call", "a/b:c-d_e")),
    subject: value,
    source: value,
    time: fc.oneof(time, value),
    specversion: fc.constantFrom("1.0", "0.3", undefined),
    datacontenttype: fc.constantFrom("application/json", "text/plain", undefined),
    data: fc.oneof(fc.constant({ tokens: 1 }), value, fc.constant({})),
    extra: value,
  },
  { requiredKeys: [] },
);

describe("the batch fast path", () => {
  it("accepts only what the schema accepts, and reads it the same", () => {
    fc.assert(
      fc.property(fc.oneof(event, value), (raw) => {
        const fast = fastParse(raw);
        const slow = UsageEventInput.safeParse(raw);
        if (fast !== null) {
          expect(slow.success, JSON.stringify(raw)).toBe(true);
          expect(fast).toEqual(slow.data);
        }
      }),
      { numRuns: 5000 },
    );
  });
});
