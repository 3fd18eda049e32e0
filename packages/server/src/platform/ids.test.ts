import { describe, expect, it } from "vitest";
import { createApp, MODULES } from "../app.js";
import { loadConfig } from "../config.js";
import { defineIds, IdRegistry, PLATFORM_ID_PREFIXES } from "./ids.js";
import { defineModule } from "./module.js";

const testIds = defineIds({ widget: "wdg", gadget: "gdg", testKind: "tk" });
const { newId, isId } = testIds;

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
    const prefixes: Record<string, string> = { ...PLATFORM_ID_PREFIXES, ...testIds.prefixes };
    for (const kind of ["request", "fact", "job", "idempotencyRecord", "widget", "gadget", "testKind"] as const) {
      const id = newId(kind);
      const prefix = prefixes[kind] as string;
      expect(id.startsWith(`${prefix}_`)).toBe(true);
      const body = id.slice(prefix.length + 1);
      expect(body).toHaveLength(26);
      expect(body).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/);
      expect(isId(kind, id)).toBe(true);
    }
  });

  it("encodes the creation time in its first 10 characters", () => {
    const now = Date.UTC(2031, 0, 2, 3, 4, 5, 678);
    expect(decodeTime(newId("widget", now))).toBe(now);
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
    const a = newId("widget", Date.UTC(2041, 0, 1));
    const b = newId("widget", Date.UTC(2041, 0, 2));
    expect(a < b).toBe(true);
  });
});

describe("isId", () => {
  const good = newId("widget");
  it.each([
    ["another kind's prefix", newId("gadget")],
    ["no prefix", good.slice(4)],
    ["lower case", good.toLowerCase()],
    ["a body one character short", good.slice(0, -1)],
    ["a body one character long", `${good}0`],
    ["a Crockford-excluded letter (I)", `${good.slice(0, -1)}I`],
    ["a Crockford-excluded letter (U)", `${good.slice(0, -1)}U`],
    ["whitespace", `${good} `],
    ["the empty string", ""],
  ])("rejects %s", (_label, value) => {
    expect(isId("widget", value)).toBe(false);
  });

  it.each([null, undefined, 42, {}, ["ten_"]])("rejects the non-string %j without throwing", (value) => {
    expect(isId("widget", value)).toBe(false);
  });

  it("accepts a well-formed ID", () => {
    expect(isId("widget", good)).toBe(true);
  });
});

describe("defineIds", () => {
  it("keeps only the module's own kinds in `prefixes`", () => {
    expect(testIds.prefixes).toEqual({ widget: "wdg", gadget: "gdg", testKind: "tk" });
  });

  it.each([
    ["a platform kind", { request: "rqq" }, /ID kind "request" is declared by both platform and this module/],
    ["a platform prefix", { thing: "req" }, /ID prefix "req" is claimed by both platform \(request\)/],
    [
      "one prefix twice",
      { a: "aa", b: "aa" },
      /ID prefix "aa" is claimed by both this module \(a\) and this module \(b\)/,
    ],
    ["an upper-case prefix", { thing: "THG" }, /must be 2–4 lower-case letters/],
    ["a long prefix", { thing: "thing" }, /must be 2–4 lower-case letters/],
    ["a snake_case kind", { some_thing: "smt" }, /must be camelCase/],
  ])("refuses %s", (_label, prefixes, error) => {
    expect(() => defineIds(prefixes)).toThrow(error);
  });

  it("refuses an undeclared kind passed around the types", () => {
    expect(() => newId("nothing" as "widget")).toThrow('Unknown ID kind "nothing"');
  });
});

describe("IdRegistry", () => {
  it("refuses a kind or a prefix two owners claim, naming both", () => {
    const registry = new IdRegistry();
    registry.register('module "billing"', { invoice: "inv" });
    expect(() => registry.register('module "shop"', { invoice: "sin" })).toThrow(
      'ID kind "invoice" is declared by both module "billing" and module "shop"',
    );
    expect(() => registry.register('module "access"', { invitation: "inv" })).toThrow(
      'ID prefix "inv" is claimed by both module "billing" (invoice) and module "access" (invitation)',
    );
    expect(registry.prefixOf("invoice")).toBe("inv");
    expect(registry.ownerOf("invoice")).toBe('module "billing"');
  });

  it("holds the platform's and every shipped module's kinds without a clash", () => {
    const registry = new IdRegistry();
    registry.register("platform", PLATFORM_ID_PREFIXES);
    for (const m of MODULES) registry.register(m.name, m.ids ?? {});
    const kinds = registry.kinds();
    expect(new Set(kinds.map((k) => k.prefix)).size).toBe(kinds.length);
    expect(registry.prefixOf("tenant")).toBe("ten");
    expect(registry.ownerOf("tenant")).toBe("tenancy");
    expect(registry.ownerOf("webhookAttempt")).toBe("webhooks");
    // Every module's kinds are held (none dropped or merged): the platform's plus each module's own.
    const declared =
      Object.keys(PLATFORM_ID_PREFIXES).length + MODULES.reduce((n, m) => n + Object.keys(m.ids ?? {}).length, 0);
    expect(kinds).toHaveLength(declared);
    expect(kinds.length).toBeGreaterThan(27);
  });

  it("makes createApp refuse two modules claiming one prefix before touching the database", async () => {
    const claim = (name: string, ids: Record<string, string>) =>
      defineModule({ name, migrations: [], ids, createService: () => ({}) });
    await expect(
      createApp({
        config: loadConfig({ BASEPLATE_LOG_LEVEL: "silent" }),
        modules: [claim("shop", { order: "ord" }), claim("orders", { purchase: "ord" })],
      }),
    ).rejects.toThrow('ID prefix "ord" is claimed by both module "shop" (order) and module "orders" (purchase)');
  });
});
