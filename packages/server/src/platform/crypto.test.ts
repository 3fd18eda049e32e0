import { describe, expect, it } from "vitest";
import { base62, constantTimeEqual, crc32, generateToken, parseToken, redactToken, sha256Hex } from "./crypto.js";

const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const PREFIX = "bp_sk_";
const BODY = 43;
const CHECKSUM = 6;

describe("generateToken", () => {
  it("is <prefix><43 base62 body><6 base62 checksum>", () => {
    const token = generateToken(PREFIX);
    expect(token.startsWith(PREFIX)).toBe(true);
    expect(token).toHaveLength(PREFIX.length + BODY + CHECKSUM);
    expect(token.slice(PREFIX.length)).toMatch(/^[0-9A-Za-z]{49}$/);
    expect(parseToken(token, [PREFIX])).toEqual({ prefix: PREFIX });
  });

  it("carries at least 256 random bits: every one of the 43 body characters varies", () => {
    // 43 base62 characters hold 43·log2(62) ≈ 256.03 bits. If fewer random bytes were drawn, the
    // leading characters would be constant; if the body were shorter, the length test would fail.
    expect(BODY * Math.log2(62)).toBeGreaterThanOrEqual(256);
    const tokens = Array.from({ length: 2000 }, () => generateToken(PREFIX).slice(PREFIX.length, PREFIX.length + BODY));
    for (let i = 0; i < BODY; i++) {
      const seen = new Set(tokens.map((t) => t[i]));
      // The most significant character spans 0..59 (2^256 / 62^42); the others all 62.
      expect(seen.size, `body character ${i}`).toBeGreaterThan(45);
    }
  });

  it("never repeats (10,000 tokens)", () => {
    const tokens = Array.from({ length: 10_000 }, () => generateToken(PREFIX));
    expect(new Set(tokens).size).toBe(tokens.length);
  });

  it.each(["", "bp", "bp_sk", "BP_SK_", "bp-sk_", "_bp_", "bp__sk_", "1bp_"])("refuses the prefix %j", (prefix) => {
    expect(() => generateToken(prefix)).toThrow(/prefix/);
  });
});

describe("parseToken", () => {
  const token = generateToken(PREFIX);
  const rest = token.slice(PREFIX.length);

  it("detects any single changed character, in the body or in the checksum", () => {
    for (let i = 0; i < rest.length; i++) {
      const original = rest[i] as string;
      for (const replacement of [
        BASE62[(BASE62.indexOf(original) + 1) % 62],
        BASE62[(BASE62.indexOf(original) + 31) % 62],
      ]) {
        const flipped = `${PREFIX}${rest.slice(0, i)}${replacement}${rest.slice(i + 1)}`;
        expect(parseToken(flipped, [PREFIX]), `position ${i} → ${replacement}`).toBeNull();
      }
    }
  });

  it("detects two swapped adjacent characters", () => {
    for (let i = 0; i < rest.length - 1; i++) {
      if (rest[i] === rest[i + 1]) continue;
      const swapped = `${PREFIX}${rest.slice(0, i)}${rest[i + 1]}${rest[i]}${rest.slice(i + 2)}`;
      expect(parseToken(swapped, [PREFIX]), `swap at ${i}`).toBeNull();
    }
  });

  it.each([
    ["a prefix it was not asked about", () => parseToken(token, ["bp_tk_"])],
    ["the body moved under another prefix", () => parseToken(`bp_tk_${rest}`, ["bp_tk_"])],
    ["one character short", () => parseToken(token.slice(0, -1), [PREFIX])],
    ["one character long", () => parseToken(`${token}0`, [PREFIX])],
    ["a non-base62 character", () => parseToken(`${token.slice(0, -1)}-`, [PREFIX])],
    ["surrounding whitespace", () => parseToken(` ${token}`, [PREFIX])],
    ["the prefix alone", () => parseToken(PREFIX, [PREFIX])],
    ["the empty string", () => parseToken("", [PREFIX])],
    ["no known prefixes", () => parseToken(token, [])],
  ])("rejects %s", (_label, call) => {
    expect(call()).toBeNull();
  });

  it("picks the matching prefix among several", () => {
    expect(parseToken(generateToken("bp_tk_"), [PREFIX, "bp_tk_"])).toEqual({ prefix: "bp_tk_" });
  });

  it("never throws, whatever the input", () => {
    for (const input of ["\u0000", "bp_sk_\uD800", "bp_sk_".padEnd(10_000, "a"), "🙂".repeat(30)]) {
      expect(parseToken(input, [PREFIX])).toBeNull();
    }
  });
});

describe("sha256Hex", () => {
  it("matches the FIPS 180-2 test vectors, for strings and bytes alike", () => {
    expect(sha256Hex("")).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    expect(sha256Hex("abc")).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    expect(sha256Hex(new TextEncoder().encode("abc"))).toBe(sha256Hex("abc"));
  });

  it("hashes UTF-8", () => {
    expect(sha256Hex("é")).toBe(sha256Hex(Buffer.from([0xc3, 0xa9])));
  });
});

describe("constantTimeEqual", () => {
  it.each([
    ["", "", true],
    ["abc", "abc", true],
    ["abc", "abd", false],
    ["abc", "ab", false],
    ["ab", "abc", false],
    ["", "a", false],
    ["é", "e", false],
    ["é", "é", true],
  ])("%j vs %j → %s", (a, b, expected) => {
    expect(constantTimeEqual(a, b)).toBe(expected);
  });
});

describe("crc32 and base62", () => {
  it("crc32 is the IEEE CRC-32 (check value of 123456789)", () => {
    expect(crc32("123456789")).toBe(0xcbf43926);
    expect(crc32("")).toBe(0);
  });

  it("base62 is fixed-width, most significant digit first", () => {
    expect(base62(new Uint8Array([255]), 2)).toBe("47");
    expect(base62(new Uint8Array([0]), 3)).toBe("000");
    expect(base62(new Uint8Array([0xff, 0xff, 0xff, 0xff]), 6)).toBe("4gfFC3");
  });
});

describe("redactToken", () => {
  it("shows the prefix and the last four characters only", () => {
    const token = generateToken(PREFIX);
    const shown = redactToken(token, PREFIX);
    expect(shown).toBe(`${PREFIX}…${token.slice(-4)}`);
    expect(shown).not.toContain(token.slice(PREFIX.length, -4));
  });
});
