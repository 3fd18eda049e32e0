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
