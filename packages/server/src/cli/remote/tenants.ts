import { unwrap } from "@baseplate/sdk";
import { defineCommand, EXIT, parse } from "../command.js";
import { type CliIo, details, printJson, table } from "../io.js";
import { connect, reach, when } from "./client.js";
import { LIMIT_FLAG, pageSize, take } from "./list.js";

/** showTenant prints one tenant for a person. */
function showTenant(
  io: CliIo,
  t: { id: string; name: string; slug: string; state: string } & Record<string, unknown>,
): void {
  details(io, [
    ["Tenant", `${t.id} (${t.name})`],
    ["Slug", t.slug],
    ["State", t.state],
    ["External id", t.externalId],
    ["Time zone", t.timeZone],
    ["Created", when(t.createdAt)],
  ]);
}

const list = defineCommand({
  name: "tenants list",
  section: "remote",
  remote: true,
  json: true,
  summary: "List the environment's tenants.",
  flags: {
    state: {
      type: "string",
      value: "STATE",
      description: "Only tenants in this state.",
      parse: parse.oneOf("active", "suspended", "deactivated"),
    },
    search: { type: "string", value: "TEXT", description: "Only tenants whose name or slug contains TEXT." },
    limit: LIMIT_FLAG,
  },
  async run(ctx) {
    const { bp, connection } = connect(ctx);
    const max = (ctx.flags.limit as number | undefined) ?? 50;
    const query = {
      limit: pageSize(max),
      ...(ctx.flags.state ? { state: ctx.flags.state as "active" } : {}),
      ...(ctx.flags.search ? { q: ctx.flags.search as string } : {}),
    };
    const tenants = await reach(connection, () => take(bp.paginate("/v1/tenants", { query }), max));
    if (ctx.json) printJson(ctx.io, tenants);
    else
      table(
        ctx.io,
        tenants,
        [
          { heading: "id", value: (t) => t.id },
          { heading: "name", value: (t) => t.name },
          { heading: "slug", value: (t) => t.slug },
          { heading: "state", value: (t) => t.state },
          { heading: "created", value: (t) => when(t.createdAt) },
        ],
        "No tenants.",
      );
    return EXIT.ok;
  },
});

const create = defineCommand({
  name: "tenants create",
  section: "remote",
  remote: true,
  json: true,
  summary: "Create a tenant.",
  flags: {
    name: { type: "string", value: "NAME", required: true, description: "Its display name." },
    slug: { type: "string", value: "SLUG", description: "Its slug (default: from the name)." },
    "external-id": { type: "string", value: "ID", description: "Your product's own id for it." },
  },
  async run(ctx) {
    const { bp, connection } = connect(ctx);
    const body = {
      name: ctx.flags.name as string,
      ...(ctx.flags.slug ? { slug: ctx.flags.slug as string } : {}),
      ...(ctx.flags["external-id"] ? { externalId: ctx.flags["external-id"] as string } : {}),
    };
    const tenant = await reach(connection, () => unwrap(bp.POST("/v1/tenants", { body })));
    if (ctx.json) printJson(ctx.io, tenant);
    else showTenant(ctx.io, tenant);
    return EXIT.ok;
  },
});

const show = defineCommand({
  name: "tenants show",
  section: "remote",
  remote: true,
  json: true,
  summary: "Show one tenant.",
  args: [{ name: "tenantId", description: "The tenant (ten_…)." }],
  async run(ctx) {
    const { bp, connection } = connect(ctx);
    const tenantId = ctx.args.tenantId as string;
    const tenant = await reach(connection, () =>
      unwrap(bp.GET("/v1/tenants/{tenantId}", { params: { path: { tenantId } } })),
    );
    if (ctx.json) printJson(ctx.io, tenant);
    else showTenant(ctx.io, tenant);
    return EXIT.ok;
  },
});

/** remoteTenantCommands: list, create and show tenants through the API. */
export const remoteTenantCommands = [list, create, show];
