import { describe, expect, it } from "vitest";
import { JsonSchemaInput, validateJson } from "./json-schema.js";

describe("client-supplied JSON Schemas", () => {
  it("accepts the supported subset and validates documents against it", () => {
    const schema = JsonSchemaInput.parse({
      $schema: "https://json-schema.org/draft/2020-12/schema",
      type: "object",
      properties: { amount: { type: "integer", minimum: 0 }, tags: { type: "array", items: { type: "string" } } },
      required: ["amount"],
      additionalProperties: false,
    });
    expect(validateJson(schema, { amount: 3, tags: ["a"] })).toEqual([]);
    expect(validateJson(schema, { amount: "ten", extra: 1 })).toEqual([
      { path: "amount", message: "must be integer" },
      { path: "extra", message: "is not allowed" },
    ]);
    expect(validateJson(schema, { tags: [1] })).toEqual([
      { path: "amount", message: "is required" },
      { path: "tags[0]", message: "must be string" },
    ]);
  });

  it("refuses what could run a client's regular expression or recurse without bound", () => {
    for (const refused of [
      { type: "string", pattern: "^(a+)+$" },
      { properties: { s: { type: "string", format: "email" } } },
      { $ref: "#" },
      { anyOf: [{ type: "string" }] },
    ]) {
      expect(JsonSchemaInput.safeParse(refused).success, JSON.stringify(refused)).toBe(false);
    }
  });

  it("refuses schemas nested past the limit or larger than 32 KiB, without overflowing the stack", () => {
    let deep: Record<string, unknown> = { type: "object" };
    for (let i = 0; i < 5_000; i++) deep = { type: "object", properties: { a: deep } };
    const nested = JsonSchemaInput.safeParse(deep);
    expect(nested.success).toBe(false);
    expect(nested.error?.issues[0]?.message).toMatch(/nest at most 32 levels/);
    const big = { type: "object", description: "x".repeat(40_000) };
    expect(JsonSchemaInput.safeParse(big).error?.issues[0]?.message).toMatch(/32 KiB/);
  });
});
