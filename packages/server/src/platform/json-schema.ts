import { z } from "zod";

/**
 * The one JSON Schema validator for client-supplied schemas (audit metadata schemas, event types'
 * data schemas): one policy, evaluated in bounded time. Supported keywords: `type` (one or a list
 * of object, array, string, number, integer, boolean, null), `properties`, `required`,
 * `additionalProperties` (boolean or schema), `items`, `enum`, `const`, `minLength`, `maxLength`,
 * `minimum`, `maximum`, `minItems`, `maxItems`, and the annotations `title`, `description`,
 * `$schema` and `$comment`. Anything else is refused when the schema is registered: no `pattern`
 * or `format` (no regular expression from a client ever runs on the server, so no input can stall
 * the event loop), no `$ref` (no cycles), no combinators. Validation visits each value of the
 * document once per schema node that applies to it, so it is linear in the document for a given
 * schema, and schemas are at most 32 KiB. Chosen over Ajv because Ajv compiles client-supplied
 * schemas into code, and over zod's `fromJSONSchema` because that runs client `pattern`s as
 * backtracking regular expressions.
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
  $schema?: string;
  $comment?: string;
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
    $schema: z.string().max(200).optional(),
    $comment: z.string().max(2000).optional(),
  }),
);

/** MAX_SCHEMA_BYTES bounds a client-supplied schema (as JSON). */
export const MAX_SCHEMA_BYTES = 32_768;

/** MAX_SCHEMA_DEPTH bounds how deeply a client-supplied schema nests (objects and arrays). */
export const MAX_SCHEMA_DEPTH = 32;

/** depthOf measures how deeply `value` nests, without recursion (so no input can overflow the stack). */
function depthOf(value: unknown, limit: number): number {
  let deepest = 0;
  const stack: Array<{ value: unknown; depth: number }> = [{ value, depth: 0 }];
  while (stack.length > 0) {
    const top = stack.pop() as { value: unknown; depth: number };
    if (top.value === null || typeof top.value !== "object") continue;
    const depth = top.depth + 1;
    if (depth > deepest) deepest = depth;
    if (deepest > limit) return deepest;
    for (const inner of Object.values(top.value)) stack.push({ value: inner, depth });
  }
  return deepest;
}

/**
 * JsonSchemaInput is the request-body field for a client-supplied schema: a JSON object of the
 * supported subset, at most 32 KiB. Refusals name the offending keyword's path.
 */
// NOTE: a plain object for the OpenAPI document (a recursive zod schema renders refs it cannot resolve).
export const JsonSchemaInput = z
  .record(z.string(), z.unknown())
  .superRefine((value, ctx) => {
    if (depthOf(value, MAX_SCHEMA_DEPTH) > MAX_SCHEMA_DEPTH) {
      ctx.addIssue({ code: "custom", message: `must nest at most ${MAX_SCHEMA_DEPTH} levels` });
      return;
    }
    if (Buffer.byteLength(JSON.stringify(value)) > MAX_SCHEMA_BYTES) {
      ctx.addIssue({ code: "custom", message: "must be at most 32 KiB as JSON" });
      return;
    }
    const parsed = JsonSchemaShape.safeParse(value);
    if (parsed.success) return;
    for (const issue of parsed.error.issues) {
      ctx.addIssue({ code: "custom", path: issue.path as PropertyKey[], message: issue.message });
    }
  })
  .describe(
    "A JSON Schema subset: type, properties, required, additionalProperties, items, enum, const, minLength, maxLength, minimum, maximum, minItems, maxItems, and the annotations title, description, $schema, $comment. No pattern, format, $ref or combinators.",
  );

/** JsonProblem is one way a document fails its schema: where, and what is wrong. */
export interface JsonProblem {
  path: string;
  message: string;
}

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
export function validateJson(schema: JsonSchema, value: unknown, path = "", out: JsonProblem[] = []): JsonProblem[] {
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
