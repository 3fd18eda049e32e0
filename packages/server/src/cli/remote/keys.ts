import { unwrap } from "@baseplate/sdk";
import { defineCommand, EXIT, parse } from "../command.js";
import { type CliIo, details, printJson, table } from "../io.js";
import { connect, reach, when } from "./client.js";
import { LIMIT_FLAG, pageSize, take } from "./list.js";

const TENANT_FLAG = { type: "string", value: "ID", required: true, description: "The tenant (ten_…)." } as const;

/** showKey prints one tenant key for a person (never its token). */
function showKey(io: CliIo, k: Record<string, unknown>): void {
  details(io, [
    ["Tenant key", `${k.id as string} (${k.name as string})`],
    ["Tenant", k.tenantId],
    ["Token", k.display],
    ["Permissions", k.permissions],
    ["Created", when(k.createdAt)],
    ["Expires", when(k.expiresAt) ?? "never"],
    ["Revoked", when(k.revokedAt) ?? "no"],
  ]);
}

const list = defineCommand({
  name: "keys list",
  section: "remote",
  remote: true,
  json: true,
  summary: "List a tenant's keys (tokens are shown redacted).",
  flags: { tenant: TENANT_FLAG, limit: LIMIT_FLAG },
  async run(ctx) {
    const { bp, connection } = connect(ctx);
    const max = (ctx.flags.limit as number | undefined) ?? 50;
    const tenantId = ctx.flags.tenant as string;
    const keys = await reach(connection, () =>
      take(bp.paginate("/v1/tenants/{tenantId}/keys", { path: { tenantId }, query: { limit: pageSize(max) } }), max),
    );
    if (ctx.json) printJson(ctx.io, keys);
    else
      table(
        ctx.io,
        keys,
        [
          { heading: "id", value: (k) => k.id },
          { heading: "name", value: (k) => k.name },
          { heading: "token", value: (k) => k.display },
          { heading: "permissions", value: (k) => k.permissions },
          { heading: "created", value: (k) => when(k.createdAt) },
          { heading: "revoked", value: (k) => when(k.revokedAt) },
        ],
        "No keys.",
      );
    return EXIT.ok;
  },
});

const create = defineCommand({
  name: "keys create",
  section: "remote",
  remote: true,
  json: true,
  summary: "Create a tenant key; its token is shown once.",
  flags: {
    tenant: TENANT_FLAG,
    name: { type: "string", value: "NAME", required: true, description: "What the key is for." },
    permissions: {
      type: "string",
      value: "LIST",
      required: true,
      description: "Comma-separated permissions, e.g. members:read,files:*.",
      parse: parse.list,
    },
    surface: { type: "string", value: "ID", description: "The surface it belongs to (default: the key's own)." },
  },
  async run(ctx) {
    const { bp, connection } = connect(ctx);
    const tenantId = ctx.flags.tenant as string;
    const body = {
      name: ctx.flags.name as string,
      permissions: ctx.flags.permissions as string[],
      ...(ctx.flags.surface ? { surfaceId: ctx.flags.surface as string } : {}),
    };
    // The answer is the created key with its one-time `token`.
    const key = await reach(connection, () =>
      unwrap(bp.POST("/v1/tenants/{tenantId}/keys", { params: { path: { tenantId } }, body })),
    );
    if (ctx.json) printJson(ctx.io, key);
    else {
      showKey(ctx.io, key);
      ctx.io.out(`\nToken: ${key.token}`);
      ctx.io.out("It is shown once and stored only as a hash: keep it in your secret manager now.");
    }
    return EXIT.ok;
  },
});

const revoke = defineCommand({
  name: "keys revoke",
  section: "remote",
  remote: true,
  json: true,
  summary: "Revoke a tenant key, at once in every process.",
  args: [{ name: "keyId", description: "The key (tk_…)." }],
  flags: { tenant: TENANT_FLAG },
  async run(ctx) {
    const { bp, connection } = connect(ctx);
    const path = { tenantId: ctx.flags.tenant as string, keyId: ctx.args.keyId as string };
    const key = await reach(connection, () =>
      unwrap(bp.POST("/v1/tenants/{tenantId}/keys/{keyId}/revoke", { params: { path } })),
    );
    if (ctx.json) printJson(ctx.io, key);
    else ctx.io.out(`Revoked ${key.id} (${key.name}) of ${key.tenantId}.`);
    return EXIT.ok;
  },
});

/** tenantKeyCommands: list, create and revoke tenant keys through the API. */
export const tenantKeyCommands = [list, create, revoke];
