import { z } from "zod";
import { pageSchema } from "../../platform/http/pagination.js";
import { defineRoute, type RouteDefinition } from "../../platform/http/route.js";
import { AuditErrors } from "./errors.js";
import {
  AuditEntry,
  AuditSchema,
  AuditSettings,
  ChainQuery,
  Checkpoint,
  CheckpointPage,
  CreateCheckpointInput,
  CreateEntryInput,
  ExportQuery,
  ListCheckpointsQuery,
  ListEntriesQuery,
  PublicKeys,
  PutSchemaInput,
  UpdateSettingsInput,
  Verification,
} from "./schemas.js";
import type { AuditService } from "./service.js";

/** environment: secret keys only (the environment's audit configuration). */
const environment = { actorTypes: ["service"] } as const;
/**
 * chainActors: secret keys (the environment, or a tenant they name) and tenant-bound credentials
 * (tenant and agent keys, confined to their own tenant by the access check). Users, who always act
 * within a named tenant, use the `/v1/tenants/:tenantId/audit/…` routes.
 */
const chainActors = { actorTypes: ["service", "tenant_key", "agent"] } as const;
/** tenantActors: every environment credential, on a tenant named in the path. */
const tenantActors = { actorTypes: ["service", "user", "tenant_key", "agent"] } as const;
const operator = { actorTypes: ["operator"] } as const;
const tags = ["Audit"];

export function auditRoutes(s: AuditService): RouteDefinition[] {
  const tenantParams = z.strictObject({ tenantId: z.string().min(1).max(64) });
  return [
    defineRoute({
      method: "POST",
      url: "/v1/audit/entries",
      operationId: "createAuditEntry",
      summary: "Write an audit entry (the actor is the calling credential)",
      description:
        "Products record their own actions in the audit trail. The actor, the surface and the request context come from the credential and the request; the body carries the action, its targets and metadata only (actor fields are refused). When the action has a registered schema, the metadata must match it.",
      tags,
      auth: chainActors,
      body: CreateEntryInput,
      response: { status: 201, schema: AuditEntry, description: "The entry, with its place in the chain." },
      errors: [AuditErrors.audit_metadata_invalid],
      handler: ({ ctx, body }) => s.entries.createEntry(ctx, body),
    }),
    defineRoute({
      method: "GET",
      url: "/v1/audit/entries",
      operationId: "listAuditEntries",
      summary: "Query audit entries",
      description:
        "Filters: action (or a prefix such as `tenant.*`), actor, target, tenant, time range. Newest first by default.",
      tags,
      auth: chainActors,
      query: ListEntriesQuery,
      response: { status: 200, schema: pageSchema(AuditEntry), description: "A page of entries." },
      handler: ({ ctx, query }) => s.entries.listEntries(ctx, query),
    }),
    defineRoute({
      method: "GET",
      url: "/v1/audit/export",
      operationId: "exportAuditChain",
      summary: "Export a chain (JSON Lines, verifiable offline, or CSV)",
      description:
        "Streams the chain of the tenant (or of the environment). JSON Lines: a header, the chain's signed checkpoints, then every retained entry; `baseplate audit verify` checks it offline. CSV: the entries, for spreadsheets.",
      tags,
      auth: chainActors,
      query: ExportQuery,
      response: {
        status: 200,
        schema: z.string(),
        description: "The export, streamed.",
        contentTypes: ["application/x-ndjson", "text/csv"],
      },
      handler: ({ ctx, query }) => s.exportChain(ctx, query),
    }),
    defineRoute({
      method: "GET",
      url: "/v1/audit/verify",
      operationId: "verifyAuditChain",
      summary: "Verify a chain server-side",
      tags,
      auth: chainActors,
      query: ChainQuery,
      response: { status: 200, schema: Verification, description: "What was checked and every failure found." },
      handler: ({ ctx, query }) => s.verifyChain(ctx, query.tenantId),
    }),
    defineRoute({
      method: "GET",
      url: "/v1/audit/checkpoints",
      operationId: "listAuditCheckpoints",
      summary: "List a chain's signed checkpoints, newest first",
      tags,
      auth: chainActors,
      query: ListCheckpointsQuery,
      response: { status: 200, schema: CheckpointPage, description: "A page of checkpoints." },
      handler: ({ ctx, query }) => s.listCheckpoints(ctx, query),
    }),
    defineRoute({
      method: "POST",
      url: "/v1/audit/checkpoints",
      operationId: "createAuditCheckpoint",
      summary: "Sign a checkpoint of a chain now",
      tags,
      auth: chainActors,
      body: CreateCheckpointInput,
      response: { status: 201, schema: Checkpoint, description: "The checkpoint." },
      handler: ({ ctx, body }) => s.createCheckpoint(ctx, body),
    }),
    defineRoute({
      method: "POST",
      url: "/v1/tenants/:tenantId/audit/entries",
      operationId: "createTenantAuditEntry",
      summary: "Write an audit entry in a tenant's chain (members holding audit:write)",
      tags,
      auth: tenantActors,
      params: tenantParams,
      body: CreateEntryInput.omit({ tenantId: true }),
      response: { status: 201, schema: AuditEntry, description: "The entry, with its place in the chain." },
      errors: [AuditErrors.audit_metadata_invalid],
      handler: ({ ctx, params, body }) => s.entries.createEntry(ctx, { ...body, tenantId: params.tenantId }),
    }),
    defineRoute({
      method: "GET",
      url: "/v1/tenants/:tenantId/audit/entries",
      operationId: "listTenantAuditEntries",
      summary: "Query a tenant's audit entries (members holding audit:read)",
      tags,
      auth: tenantActors,
      params: tenantParams,
      query: ListEntriesQuery.omit({ tenantId: true }),
      response: { status: 200, schema: pageSchema(AuditEntry), description: "A page of entries." },
      handler: ({ ctx, params, query }) => s.entries.listEntries(ctx, { ...query, tenantId: params.tenantId }),
    }),
    defineRoute({
      method: "GET",
      url: "/v1/tenants/:tenantId/audit/export",
      operationId: "exportTenantAuditChain",
      summary: "Export a tenant's chain (members holding audit:export)",
      tags,
      auth: tenantActors,
      params: tenantParams,
      query: ExportQuery.omit({ tenantId: true }),
      response: {
        status: 200,
        schema: z.string(),
        description: "The export, streamed.",
        contentTypes: ["application/x-ndjson", "text/csv"],
      },
      handler: ({ ctx, params, query }) => s.exportChain(ctx, { ...query, tenantId: params.tenantId }),
    }),
    defineRoute({
      method: "GET",
      url: "/v1/audit/public-keys",
      operationId: "listAuditPublicKeys",
      summary: "Public keys that sign audit checkpoints (current and retired)",
      tags,
      auth: "none",
      response: { status: 200, schema: PublicKeys, description: "The keys, newest first." },
      handler: () => s.checkpoints.listPublicKeys(),
    }),
    defineRoute({
      method: "GET",
      url: "/v1/audit/schemas",
      operationId: "listAuditSchemas",
      summary: "List the metadata schemas of product actions",
      tags,
      auth: environment,
      response: { status: 200, schema: z.object({ data: z.array(AuditSchema) }), description: "The schemas." },
      handler: ({ ctx }) => s.settings.listSchemas(ctx),
    }),
    defineRoute({
      method: "POST",
      url: "/v1/audit/schemas",
      operationId: "putAuditSchema",
      summary: "Register (or replace) the metadata schema of an action",
      tags,
      auth: environment,
      body: PutSchemaInput,
      response: { status: 200, schema: AuditSchema, description: "The schema." },
      handler: ({ ctx, body }) => s.settings.putSchema(ctx, body),
    }),
    defineRoute({
      method: "DELETE",
      url: "/v1/audit/schemas/:auditSchemaId",
      operationId: "deleteAuditSchema",
      summary: "Remove an action's metadata schema",
      tags,
      auth: environment,
      params: z.strictObject({ auditSchemaId: z.string().min(1).max(64) }),
      response: { status: 200, schema: AuditSchema, description: "The removed schema." },
      errors: [AuditErrors.audit_schema_not_found],
      handler: ({ ctx, params }) => s.settings.deleteSchema(ctx, params.auditSchemaId),
    }),
    defineRoute({
      method: "GET",
      url: "/v1/audit/settings",
      operationId: "getAuditSettings",
      summary: "Get the environment's audit settings",
      tags,
      auth: environment,
      response: { status: 200, schema: AuditSettings, description: "The settings." },
      handler: ({ ctx }) => s.settings.findSettings(ctx),
    }),
    defineRoute({
      method: "PATCH",
      url: "/v1/audit/settings",
      operationId: "updateAuditSettings",
      summary: "Set the environment's audit retention (30 or 365 days, or forever)",
      tags,
      auth: environment,
      body: UpdateSettingsInput,
      response: { status: 200, schema: AuditSettings, description: "The settings." },
      handler: ({ ctx, body }) => s.settings.updateSettings(ctx, body),
    }),
    defineRoute({
      method: "POST",
      url: "/v1/operator/audit/signing-keys/rotate",
      operationId: "rotateAuditSigningKey",
      summary: "Start signing checkpoints with a new key (old public keys stay published)",
      tags,
      auth: operator,
      response: {
        status: 200,
        schema: z.object({ keyId: z.string(), publicKey: z.string() }),
        description: "The new key.",
      },
      errors: [AuditErrors.audit_signing_key_external],
      handler: ({ ctx }) => s.checkpoints.rotateSigningKey(ctx),
    }),
  ];
}
