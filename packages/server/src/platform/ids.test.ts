import { describe, expect, it } from "vitest";
import { ID_PREFIXES, type IdKind, isId, newId } from "./ids.js";

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/** decodeTime reads the 48-bit millisecond timestamp back out of an ID body. */
function decodeTime(id: string): number {
  const body = id.slice(id.indexOf("_") + 1);
  let t = 0;
  for (const ch of body.slice(0, 10)) t = t * 32 + CROCKFORD.indexOf(ch);
  return t;
}

describe("newId", () => {
  // NOTE: runs first: the tests below pass future timestamps, and IDs never go back in time.
  it("is strictly increasing across real time, stamped with the current time", () => {
    const before = Date.now();
    const ids = Array.from({ length: 10_000 }, () => newId("fact"));
    const after = Date.now();
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of [ids[0] as string, ids[ids.length - 1] as string]) {
      expect(decodeTime(id)).toBeGreaterThanOrEqual(before);
      expect(decodeTime(id)).toBeLessThanOrEqual(after);
    }
  });

  it("starts with its kind's prefix and has a 26-character Crockford base32 body", () => {
    for (const kind of Object.keys(ID_PREFIXES) as IdKind[]) {
      const id = newId(kind);
      expect(id.startsWith(`${ID_PREFIXES[kind]}_`)).toBe(true);
      const body = id.slice(ID_PREFIXES[kind].length + 1);
      expect(body).toHaveLength(26);
      expect(body).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/);
      expect(isId(kind, id)).toBe(true);
    }
  });

  it("encodes the creation time in its first 10 characters", () => {
    const now = Date.UTC(2031, 0, 2, 3, 4, 5, 678);
    expect(decodeTime(newId("tenant", now))).toBe(now);
  });

  it("is strictly increasing for 10,000 IDs in the same millisecond", () => {
    const now = Date.UTC(2032, 5, 1);
    const ids = Array.from({ length: 10_000 }, () => newId("job", now));
    for (let i = 1; i < ids.length; i++) {
      expect((ids[i] as string) > (ids[i - 1] as string), `id ${i}`).toBe(true);
    }
    expect(new Set(ids).size).toBe(10_000);
    expect(ids.every((id) => decodeTime(id) === now)).toBe(true);
  });

  it("stays increasing when the clock steps backwards", () => {
    const later = newId("job", Date.UTC(2040, 0, 1));
    const earlier = newId("job", Date.UTC(2039, 0, 1));
    expect(earlier > later).toBe(true);
  });

  it("sorts across kinds by time within a kind only (the prefix leads)", () => {
    const a = newId("tenant", Date.UTC(2041, 0, 1));
    const b = newId("tenant", Date.UTC(2041, 0, 2));
    expect(a < b).toBe(true);
  });
});

describe("isId", () => {
  const good = newId("tenant");
  it.each([
    ["another kind's prefix", newId("user")],
    ["no prefix", good.slice(4)],
    ["lower case", good.toLowerCase()],
    ["a body one character short", good.slice(0, -1)],
    ["a body one character long", `${good}0`],
    ["a Crockford-excluded letter (I)", `${good.slice(0, -1)}I`],
    ["a Crockford-excluded letter (U)", `${good.slice(0, -1)}U`],
    ["whitespace", `${good} `],
    ["the empty string", ""],
  ])("rejects %s", (_label, value) => {
    expect(isId("tenant", value)).toBe(false);
  });

  it.each([null, undefined, 42, {}, ["ten_"]])("rejects the non-string %j without throwing", (value) => {
    expect(isId("tenant", value)).toBe(false);
  });

  it("accepts a well-formed ID", () => {
    expect(isId("tenant", good)).toBe(true);
  });
});

describe("ID_PREFIXES", () => {
  it("are unique, short and lower-case (one registry; a prefix is never reused)", () => {
    const prefixes = Object.values(ID_PREFIXES);
    expect(new Set(prefixes).size).toBe(prefixes.length);
    for (const p of prefixes) expect(p).toMatch(/^[a-z]{2,4}$/);
  });
});
