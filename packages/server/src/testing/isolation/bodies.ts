import type { ZodType } from "zod";
import type { RouteDefinition } from "../../platform/http/route.js";
import { routeKey } from "./route-table.js";

/**
 * Request bodies generated from a route's zod schema: the runner sends a body that would change
 * the target object if the call were let through (a module adds a body fixture where none fits).
 */

interface Def {
  type: string;
  [key: string]: unknown;
}

function defOf(schema: ZodType): Def {
  return (schema as unknown as { _zod: { def: Def } })._zod.def;
}

const STRING_CANDIDATES = [
  "isolation-probe",
  "isolation@example.com",
  "https://isolation.example.com",
  "isolation:read",
  "Isolation probe",
  "*",
  "x",
];
const NUMBER_CANDIDATES = [1, 60, 0, 3600, 86_400];

/**
 * candidates proposes values for a schema, the most "effective" first (booleans `true`, optional
 * fields filled in): a body that would change the target object if the call were let through.
 */
function candidates(schema: ZodType, depth = 0): unknown[] {
  if (depth > 8) return [];
  const def = defOf(schema);
  switch (def.type) {
    case "string":
      return STRING_CANDIDATES;
    case "number":
    case "int":
      return [...NUMBER_CANDIDATES, Date.now() + 86_400_000];
    case "boolean":
      return [true, false];
    case "enum":
      return Object.values(def.entries as Record<string, unknown>);
    case "literal":
      return [...(def.values as unknown[])];
    case "optional":
      return [...candidates(def.innerType as ZodType, depth + 1), undefined];
    case "nullable":
      return [...candidates(def.innerType as ZodType, depth + 1), null];
    case "default":
    case "prefault":
    case "nonoptional":
    case "readonly":
    case "catch":
      return candidates(def.innerType as ZodType, depth + 1);
    case "pipe":
      return candidates(def.in as ZodType, depth + 1);
    case "union":
      return (def.options as ZodType[]).flatMap((o) => candidates(o, depth + 1));
    case "array": {
      const element = pick(def.element as ZodType, depth + 1);
      return element.ok ? [[element.value], []] : [[]];
    }
    case "record":
      return [{ isolation: "probe" }, {}];
    case "object": {
      const out: Record<string, unknown> = {};
      for (const [key, field] of Object.entries(def.shape as Record<string, ZodType>)) {
        const value = pick(field, depth + 1);
        if (value.ok && value.value !== undefined) out[key] = value.value;
      }
      return [out];
    }
    case "unknown":
    case "any":
      return ["isolation-probe"];
    default:
      return [];
  }
}

function pick(schema: ZodType, depth = 0): { ok: true; value: unknown } | { ok: false } {
  for (const c of candidates(schema, depth)) {
    if (schema.safeParse(c).success) return { ok: true, value: c };
  }
  return { ok: false };
}

/**
 * sampleBody builds a valid request body from a zod schema, filling optional fields where it can.
 * Returns undefined for a route without a body; throws when no valid body can be built (add the
 * route to its module's `bodies` fixtures).
 */
export function sampleBody(route: RouteDefinition): unknown {
  if (!route.body) return undefined;
  const result = pick(route.body);
  if (!result.ok) {
    throw new Error(`Cannot build a valid body for ${routeKey(route)} from its schema; add it to the body fixtures`);
  }
  return result.value;
}
