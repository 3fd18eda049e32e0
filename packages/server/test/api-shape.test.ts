import { describe, expect, it } from "vitest";
import { renderOpenApi } from "../../../scripts/write-openapi.js";

// docs/api-conventions.md: every time in an answer is an ISO 8601 date-time, and every list answers
// `{ data, hasMore, nextCursor }`. This walks the OpenAPI document generated from the routes, so a
// route whose response schema breaks either convention fails here.

type Schema = Record<string, unknown>;

/** TIME_PROPERTY: the property names that carry a time (`createdAt`, `expiresAt`, `time`, …). */
const TIME_PROPERTY = /(At|^time|^timestamp)$/;

describe("API shape conventions", async () => {
  const doc = JSON.parse(await renderOpenApi()) as Schema;

  /** resolve follows a local `$ref` (`#/components/schemas/…`). */
  function resolve(schema: Schema): Schema {
    let node: Schema = schema;
    while (typeof node.$ref === "string") {
      let target: unknown = doc;
      for (const part of node.$ref.slice(2).split("/")) target = (target as Schema | undefined)?.[part];
      node = target as Schema;
    }
    return node;
  }

  /** variants lists a schema's alternatives (its `anyOf`/`oneOf` branches, or itself), resolved. */
  function variants(schema: Schema): Schema[] {
    const s = resolve(schema);
    const alternatives = (s.anyOf ?? s.oneOf) as Schema[] | undefined;
    return alternatives ? alternatives.flatMap(variants) : [s];
  }

  /** walk visits every object schema reachable from `schema`, with its path for messages. */
  function walk(schema: Schema, path: string, visit: (object: Schema, path: string) => void, seen = new Set<Schema>()) {
    for (const s of variants(schema)) {
      if (seen.has(s)) continue;
      seen.add(s);
      for (const part of (s.allOf as Schema[] | undefined) ?? []) walk(part, path, visit, seen);
      if (s.properties) {
        visit(s, path);
        for (const [name, prop] of Object.entries(s.properties as Record<string, Schema>)) {
          walk(prop, `${path}.${name}`, visit, seen);
        }
      }
      if (s.items) walk(s.items as Schema, `${path}[]`, visit, seen);
      if (s.additionalProperties && typeof s.additionalProperties === "object") {
        walk(s.additionalProperties as Schema, `${path}{}`, visit, seen);
      }
    }
  }

  /** responses lists each operation's JSON success response schema. */
  function responses(): Array<{ where: string; schema: Schema }> {
    const out: Array<{ where: string; schema: Schema }> = [];
    for (const [url, item] of Object.entries(doc.paths as Record<string, Record<string, Schema>>)) {
      for (const [method, op] of Object.entries(item)) {
        for (const [status, response] of Object.entries((op.responses ?? {}) as Record<string, Schema>)) {
          if (!status.startsWith("2")) continue;
          const schema = (response.content as Record<string, { schema?: Schema }> | undefined)?.["application/json"]
            ?.schema;
          if (schema) out.push({ where: `${method.toUpperCase()} ${url} ${status}`, schema });
        }
      }
    }
    return out;
  }

  it("walks a document with responses to check", () => {
    expect(responses().length).toBeGreaterThan(100);
  });

  it("every time property of every response is an ISO 8601 date-time string", () => {
    const wrong: string[] = [];
    let checked = 0;
    for (const { where, schema } of responses()) {
      walk(schema, where, (object, path) => {
        for (const [name, prop] of Object.entries(object.properties as Record<string, Schema>)) {
          if (!TIME_PROPERTY.test(name)) continue;
          checked++;
          const kinds = variants(prop).filter((v) => v.type !== "null");
          if (kinds.length === 0 || kinds.some((v) => v.type !== "string" || v.format !== "date-time")) {
            wrong.push(`${path}.${name}`);
          }
        }
      });
    }
    expect(checked).toBeGreaterThan(100);
    expect(wrong, "time properties that are not date-time strings").toEqual([]);
  });

  it("every list response carries hasMore beside data and nextCursor", () => {
    const wrong: string[] = [];
    let lists = 0;
    for (const { where, schema } of responses()) {
      for (const s of variants(schema)) {
        const props = (s.properties ?? {}) as Record<string, Schema>;
        const data = props.data ? variants(props.data) : [];
        // A paged list: `data` and `nextCursor`. (A few small collections answer `{ data }` whole.)
        if (!data.some((d) => d.type === "array") || !("nextCursor" in props)) continue;
        lists++;
        const hasMore = props.hasMore ? variants(props.hasMore) : [];
        if (!hasMore.some((h) => h.type === "boolean")) wrong.push(where);
        if (!((s.required as string[] | undefined) ?? []).includes("hasMore"))
          wrong.push(`${where} (hasMore optional)`);
      }
    }
    expect(lists).toBeGreaterThan(20);
    expect(wrong, "list responses without hasMore").toEqual([]);
  });
});
