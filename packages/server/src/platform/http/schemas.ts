import { z } from "zod";

/**
 * Id is the schema of an object id in a path, query or body: 1–64 characters. Ids are opaque to
 * clients; an id of another kind, tenant or environment simply finds nothing (404).
 */
export const Id = z.string().min(1).max(64);

/** SchemaDoc is what the API document says of a named schema besides its shape. */
export interface SchemaDoc {
  description?: string;
  examples?: unknown[];
}

/**
 * nameSchemas gives each schema its name in the API document: it is rendered once under
 * `#/components/schemas/<name>` and referenced wherever a route uses it, so generated clients get a
 * type per resource (`Tenant`, `CreateTenantInput`). `docs` adds a description and examples by name.
 * Names are unique across the plane: naming a second schema with a taken name throws at start-up.
 */
export function nameSchemas(schemas: Record<string, z.ZodType>, docs: Record<string, SchemaDoc> = {}): void {
  for (const [name, schema] of Object.entries(schemas)) {
    const existing = z.globalRegistry.get(schema);
    if (existing?.id === name) continue;
    z.globalRegistry.add(schema, { ...existing, ...docs[name], id: name });
  }
}
/**
 * Timestamp is the schema of every time in an API answer and event payload: an ISO 8601 UTC
 * date-time with milliseconds (`2026-12-07T09:24:44.123Z`), as `iso` writes it. The database keeps
 * epoch milliseconds; rows become API objects through `iso` / `isoOrNull`.
 */
export const Timestamp = z.string().meta({
  format: "date-time",
  description: "ISO 8601 UTC date-time with milliseconds.",
  examples: ["2026-12-07T09:24:44.123Z"],
});

/** iso writes epoch milliseconds as an ISO 8601 UTC date-time with milliseconds (`Timestamp`). */
export function iso(ms: number | bigint | string): string {
  return new Date(Number(ms)).toISOString();
}

/** isoOrNull is `iso` for a nullable column: null stays null. */
export function isoOrNull(ms: number | bigint | string | null | undefined): string | null {
  return ms === null || ms === undefined ? null : iso(ms);
}

/** EPOCH_MS_DIGITS is a whole number of milliseconds written in decimal (a query string's epoch ms). */
const EPOCH_MS_DIGITS = /^\d{1,15}$/;

/**
 * TimestampInput is the schema of a time a client sends in a body: an ISO 8601 date-time with a
 * `Z` or numeric offset (`2026-12-07T09:24:44Z`, `2026-12-07T10:24:44.5+01:00`), or — kept for
 * clients written before ISO — integer epoch milliseconds. Either way the handler receives epoch
 * milliseconds (a number), which is what services compare and the database stores.
 */
export const TimestampInput = z
  .union([z.iso.datetime({ offset: true }), z.number().int().min(0).max(8_640_000_000_000_000)])
  .transform((v) => (typeof v === "number" ? v : Date.parse(v)))
  .meta({
    description: "ISO 8601 date-time with `Z` or an offset (epoch milliseconds are still accepted, deprecated).",
    examples: ["2026-12-07T09:24:44.123Z"],
  });

/**
 * TimestampQuery is `TimestampInput` for a query string: an ISO 8601 date-time, or epoch
 * milliseconds as decimal digits (deprecated). Handlers receive epoch milliseconds.
 */
export const TimestampQuery = z
  .union([z.iso.datetime({ offset: true }), z.string().regex(EPOCH_MS_DIGITS)])
  .transform((v) => (EPOCH_MS_DIGITS.test(v) ? Number(v) : Date.parse(v)))
  .meta({
    description: "ISO 8601 date-time with `Z` or an offset (epoch milliseconds are still accepted, deprecated).",
    examples: ["2026-12-07T09:24:44.123Z"],
  });
