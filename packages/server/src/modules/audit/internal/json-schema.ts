import { z } from "zod";

/**
 * A small JSON Schema subset for the metadata of product-written audit entries. Supported keywords:
 * `type` (one or a list of object, array, string, number, integer, boolean, null), `properties`,
 * `required`, `additionalProperties` (boolean or schema), `items`, `enum`, `const`, `minLength`,
 * `maxLength`, `minimum`, `maximum`, `minItems`, `maxItems`, and the annotations `title` and
 * `description`. Anything else is refused when the schema is registered (no `pattern`, `$ref`
 * or `format`: no regular expression from a client runs on the server, and validation is linear
 * in the size of the document). Chosen over Ajv because Ajv compiles client-supplied schemas into
 * code, which a 100-line interpreter of the keywords products need does not.
 */

const TYPES = ["object", "array", "string", "number", "integer", "boolean", "null"] as const;

export interface JsonSchema {
  type?: (typeof TYPES)[number] | Array<(typeof TYPES)[number]>;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  enum?: unknown[];
  const?: unknown;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  maxItems?: number;
  title?: string;
  description?: string;
}

const count = z.number().int().min(0).max(1_000_000);

/** JsonSchemaShape validates a schema of the supported subset (strict: unknown keywords are refused). */
export const JsonSchemaShape: z.ZodType<JsonSchema> = z.lazy(() =>
  z.strictObject({
    type: z.union([z.enum(TYPES), z.array(z.enum(TYPES)).min(1).max(7)]).optional(),
    properties: z.record(z.string().max(200), JsonSchemaShape).optional(),
    required: z.array(z.string().max(200)).max(200).optional(),
    additionalProperties: z.union([z.boolean(), JsonSchemaShape]).optional(),
    items: JsonSchemaShape.optional(),
    enum: z.array(z.unknown()).min(1).max(200).optional(),
    const: z.unknown().optional(),
    minLength: count.optional(),
    maxLength: count.optional(),
    minimum: z.number().optional(),
    maximum: z.number().optional(),
    minItems: count.optional(),
    maxItems: count.optional(),
    title: z.string().max(500).optional(),
    description: z.string().max(2000).optional(),
  }),
);

function typeOf(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  return typeof value;
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * validateJson checks `value` against `schema` and returns the failures as `{path, message}`
 * (empty when valid; at most 20). It never throws.
 */
export function validateJson(
  schema: JsonSchema,
  value: unknown,
  path = "",
  out: Array<{ path: string; message: string }> = [],
) {
  if (out.length >= 20) return out;
  const actual = typeOf(value);
  if (schema.type !== undefined) {
    const allowed = Array.isArray(schema.type) ? schema.type : [schema.type];
    const ok = allowed.some(
      (t) => t === actual || (t === "integer" && Number.isInteger(value)) || (t === "number" && actual === "number"),
    );
    if (!ok) {
      out.push({ path, message: `must be ${allowed.join(" or ")}` });
      return out;
    }
  }
  if (schema.enum !== undefined && !schema.enum.some((e) => sameJson(e, value))) {
    out.push({ path, message: "must be one of the allowed values" });
  }
  if (schema.const !== undefined && !sameJson(schema.const, value))
    out.push({ path, message: "must equal the constant" });
  if (typeof value === "string") {
    const length = [...value].length;
    if (schema.minLength !== undefined && length < schema.minLength)
      out.push({ path, message: `must be at least ${schema.minLength} characters` });
    if (schema.maxLength !== undefined && length > schema.maxLength)
      out.push({ path, message: `must be at most ${schema.maxLength} characters` });
  }
  if (typeof value === "number") {
    if (schema.minimum !== undefined && value < schema.minimum)
      out.push({ path, message: `must be at least ${schema.minimum}` });
    if (schema.maximum !== undefined && value > schema.maximum)
      out.push({ path, message: `must be at most ${schema.maximum}` });
  }
  if (Array.isArray(value)) {
    if (schema.minItems !== undefined && value.length < schema.minItems)
      out.push({ path, message: `must hold at least ${schema.minItems} items` });
    if (schema.maxItems !== undefined && value.length > schema.maxItems)
      out.push({ path, message: `must hold at most ${schema.maxItems} items` });
    if (schema.items) {
      for (const [i, item] of value.entries()) validateJson(schema.items, item, `${path}[${i}]`, out);
    }
  }
  if (actual === "object") {
    const record = value as Record<string, unknown>;
    for (const key of schema.required ?? []) {
      if (!Object.hasOwn(record, key)) out.push({ path: join(path, key), message: "is required" });
    }
    for (const [key, inner] of Object.entries(record)) {
      const sub = schema.properties?.[key];
      if (sub) validateJson(sub, inner, join(path, key), out);
      else if (schema.additionalProperties === false) out.push({ path: join(path, key), message: "is not allowed" });
      else if (typeof schema.additionalProperties === "object")
        validateJson(schema.additionalProperties, inner, join(path, key), out);
    }
  }
  return out;
}

function join(path: string, key: string): string {
  return path === "" ? key : `${path}.${key}`;
}
