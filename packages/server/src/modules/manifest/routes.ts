import { z } from "zod";
import { AUTH, defineRoute, type RouteDefinition } from "../../platform/http/route.js";
import { ManifestErrors } from "./errors.js";
import { manifestJsonSchema } from "./json-schema.js";
import { ApplyInput, ManifestApplied, ManifestExport, ManifestPlan, PlanInput } from "./schemas.js";
import type { ManifestService } from "./service.js";

export function manifestRoutes(s: ManifestService): RouteDefinition[] {
  const tags = ["Manifest"];
  return [
    defineRoute({
      method: "GET",
      url: "/v1/manifest",
      operationId: "exportManifest",
      summary: "Export the environment's configuration as a manifest",
      description:
        "Every section the credential may read (surfaces need an operator credential; the others are listed in `omitted`), items in key order, with the hash a plan would report.",
      tags,
      auth: AUTH.environment,
      response: { status: 200, schema: ManifestExport, description: "The environment's manifest." },
      errors: [ManifestErrors.manifest_ambiguous],
      handler: ({ ctx }) => s.export(ctx),
    }),
    defineRoute({
      method: "GET",
      url: "/v1/manifest/schema",
      operationId: "getManifestSchema",
      summary: "The JSON Schema of `baseplate.yaml`",
      description:
        "For editors and agents to validate a manifest while writing it (`# yaml-language-server: $schema=…`).",
      tags,
      auth: "none",
      response: {
        status: 200,
        schema: z.record(z.string(), z.unknown()),
        description: "A JSON Schema (draft 2020-12).",
      },
      handler: async () => manifestJsonSchema(s.sections()),
    }),
    defineRoute({
      method: "POST",
      url: "/v1/manifest/plan",
      operationId: "planManifest",
      summary: "Plan a manifest against the environment",
      description:
        "Compares one environment's manifest with the live configuration of the sections it declares and lists the changes an apply would make, each classified by risk with the objects it affects. Changes nothing.",
      tags,
      auth: AUTH.environment,
      body: PlanInput,
      response: { status: 200, schema: ManifestPlan, description: "The plan." },
      errors: [ManifestErrors.manifest_ambiguous],
      handler: ({ ctx, body }) => s.plan(ctx, body),
    }),
    defineRoute({
      method: "POST",
      url: "/v1/manifest/apply",
      operationId: "applyManifest",
      summary: "Apply a manifest to the environment",
      description:
        "All or nothing, in one transaction: refused when the configuration changed since the plan (`liveHash`), when any change would be refused, or when a change is destructive and `allowDestructive` is not set. Each change is audited as its own fact; the apply as `manifest.applied` with the manifest's hash.",
      tags,
      auth: AUTH.environment,
      body: ApplyInput,
      response: { status: 200, schema: ManifestApplied, description: "What was applied." },
      errors: [
        ManifestErrors.manifest_stale,
        ManifestErrors.manifest_blocked,
        ManifestErrors.manifest_destructive,
        ManifestErrors.manifest_ambiguous,
      ],
      handler: ({ ctx, body }) => s.apply(ctx, body),
    }),
  ];
}
