import { unwrap } from "@baseplate/sdk";
import { defineCommand, EXIT, parse } from "../command.js";
import { printJson, table } from "../io.js";
import { connect, reach } from "./client.js";
import { LIMIT_FLAG, pageSize, take } from "./list.js";

const meters = defineCommand({
  name: "usage meters",
  section: "remote",
  remote: true,
  json: true,
  summary: "List the environment's usage meters.",
  flags: { archived: { type: "boolean", description: "Include archived meters." }, limit: LIMIT_FLAG },
  async run(ctx) {
    const { bp, connection } = connect(ctx);
    const max = (ctx.flags.limit as number | undefined) ?? 50;
    const query = { limit: pageSize(max), ...(ctx.flags.archived ? { archived: true } : {}) };
    const rows = await reach(connection, () => take(bp.paginate("/v1/usage/meters", { query: query as never }), max));
    if (ctx.json) printJson(ctx.io, rows);
    else
      table(
        ctx.io,
        rows,
        [
          { heading: "id", value: (m) => m.id },
          { heading: "key", value: (m) => m.key },
          { heading: "event type", value: (m) => m.eventType },
          { heading: "aggregation", value: (m) => m.aggregation },
          { heading: "description", value: (m) => m.description },
        ],
        "No meters.",
      );
    return EXIT.ok;
  },
});

const report = defineCommand({
  name: "usage report",
  section: "remote",
  remote: true,
  json: true,
  summary: "A meter's usage over a period (default: this month), per window and group.",
  args: [{ name: "meter", description: "The meter's id or key." }],
  flags: {
    tenant: { type: "string", value: "ID", description: "One tenant (default: every tenant)." },
    from: { type: "string", value: "TIME", description: "Start, a whole minute (ISO 8601).", parse: parse.time },
    to: { type: "string", value: "TIME", description: "End, exclusive (ISO 8601).", parse: parse.time },
    window: {
      type: "string",
      value: "SIZE",
      description: "Split into minute, hour, day or month windows.",
      parse: parse.oneOf("minute", "hour", "day", "month"),
    },
    "group-by": { type: "string", value: "LIST", description: "Comma-separated dimensions (and tenantId)." },
    "time-zone": { type: "string", value: "TZ", description: "IANA time zone of the windows [UTC]." },
  },
  async run(ctx) {
    const { bp, connection } = connect(ctx);
    const f = ctx.flags;
    const query = {
      ...(f.tenant ? { tenantId: f.tenant as string } : {}),
      ...(f.from ? { from: f.from as string } : {}),
      ...(f.to ? { to: f.to as string } : {}),
      ...(f.window ? { window: f.window as "day" } : {}),
      ...(f["group-by"] ? { groupBy: f["group-by"] as string } : {}),
      ...(f["time-zone"] ? { timeZone: f["time-zone"] as string } : {}),
    };
    const meterId = ctx.args.meter as string;
    const usage = await reach(connection, () =>
      unwrap(bp.GET("/v1/usage/meters/{meterId}/usage", { params: { path: { meterId }, query } })),
    );
    if (ctx.json) {
      printJson(ctx.io, usage);
      return EXIT.ok;
    }
    ctx.io.out(
      `${usage.meter.key} (${usage.meter.aggregation}) from ${usage.from} to ${usage.to}${usage.tenantId ? ` for ${usage.tenantId}` : ""}`,
    );
    const rows = usage.windows.flatMap((w) => w.rows.map((r) => ({ window: w, row: r })));
    table(
      ctx.io,
      rows,
      [
        { heading: "from", value: (x) => x.window.from },
        { heading: "to", value: (x) => x.window.to },
        {
          heading: "group",
          value: (x) =>
            Object.entries(x.row.group)
              .map(([k, v]) => `${k}=${v ?? "-"}`)
              .join(" "),
        },
        { heading: "value", value: (x) => x.row.value },
        { heading: "events", value: (x) => x.row.events },
      ],
      "No usage in this period.",
    );
    return EXIT.ok;
  },
});

/** usageCommands: usage meters and reports through the API. */
export const usageCommands = [meters, report];
