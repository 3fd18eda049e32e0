import { z } from "zod";
import type { AnySection } from "../../platform/manifest.js";

/** MANIFEST_VERSION is the version of the manifest format this plane reads. */
export const MANIFEST_VERSION = 1;

type JsonSchema = Record<string, unknown>;

/**
 * manifestJsonSchema describes `baseplate.yaml`: a `version`, sections shared by every environment
 * at the top, and `environments` whose sections replace the shared ones for that environment.
 * Each section's item schema is its module's own (as input: defaults may be left out).
 */
export function manifestJsonSchema(sections: readonly AnySection[]): JsonSchema {
  const properties: Record<string, JsonSchema> = {};
  for (const section of sections) {
    // An empty registry: schemas the API names (and would reference from `$defs`) are written
    // inline, so each section's items stand alone in the file's schema.
    const { $schema: _, ...item } = z.toJSONSchema(section.item, {
      target: "draft-2020-12",
      io: "input",
      unrepresentable: "any",
      metadata: z.registry<{ id?: string }>(),
    }) as JsonSchema;
    properties[section.name] = { type: "array", description: section.description, items: item };
  }
  return {
    $schema: "https://json-schema.org/draft/2020-12/schema",
    title: "Baseplate manifest (baseplate.yaml)",
    description:
      "A project's configuration: sections at the top apply to every environment; a section under `environments.<name>` replaces it for that environment. A section left out is not managed; in a section, an object left out is deleted (or archived).",
    type: "object",
    additionalProperties: false,
    required: ["version"],
    properties: {
      version: { const: MANIFEST_VERSION, description: "The manifest format's version." },
      project: { type: "string", description: "The project's name (informational)." },
      ...properties,
      environments: {
        type: "object",
        description: "Per-environment sections, by environment name (as `baseplate plan --env NAME` names it).",
        additionalProperties: { type: "object", additionalProperties: false, properties },
      },
    },
  };
}
