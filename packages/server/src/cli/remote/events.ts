import { defineCommand, EXIT, parse } from "../command.js";
import { printJson, table } from "../io.js";
import { connect, reach } from "./client.js";
import { LIMIT_FLAG, pageSize, take } from "./list.js";

const FILTERS = {
  types: {
    type: "string",
    value: "LIST",
    description: "Comma-separated types or wildcards (invoice.*,tenant.created).",
  },
  tenant: { type: "string", value: "ID", description: "Only this tenant's events." },
} as const;

const tail = defineCommand({
  name: "events tail",
  section: "remote",
  remote: true,
  json: true,
  summary: "Follow the event log live (server-sent events) until Ctrl+C.",
  description:
    "Reconnects by itself without losing or repeating events. On exit it prints the last sequence seen\n" +
    "(on stderr): pass it to --after to resume from there. With --json, one event per line (JSON Lines).",
  flags: {
    ...FILTERS,
    after: {
      type: "string",
      value: "SEQ",
      description: "Resume after this sequence (0: the whole retained log first). Default: from now.",
      parse: (raw: string) => {
        if (!/^\d+$/.test(raw)) throw new Error(`"${raw}" is not a sequence number.`);
        return Number(raw);
      },
    },
  },
  async run(ctx) {
    const { bp, connection } = connect(ctx);
    const stop = new AbortController();
    ctx.io.onSignal("SIGINT", () => stop.abort());
    ctx.io.onSignal("SIGTERM", () => stop.abort());
    let last: number | null = (ctx.flags.after as number | undefined) ?? null;
    const stream = bp.events({
      signal: stop.signal,
      ...(ctx.flags.types ? { types: ctx.flags.types as string } : {}),
      ...(ctx.flags.tenant ? { tenantId: ctx.flags.tenant as string } : {}),
      ...(last !== null ? { lastEventId: last } : {}),
    });
    if (!ctx.json) ctx.io.err(`Following events of ${connection.url}; Ctrl+C to stop.`);
    await reach(connection, async () => {
      for await (const { sequence, type, event } of stream) {
        last = sequence;
        if (ctx.json) ctx.io.out(JSON.stringify({ ...event, sequence }));
        else
          ctx.io.out(
            [String(sequence), event.time ?? "", type, event.tenantId ?? "-", event.subject ?? "", event.id].join("  "),
          );
      }
    });
    if (!ctx.json && last !== null) ctx.io.err(`Stopped after sequence ${last}: resume with --after ${last}.`);
    return EXIT.ok;
  },
});

const list = defineCommand({
  name: "events list",
  section: "remote",
  remote: true,
  json: true,
  summary: "List events of the log, oldest first.",
  flags: {
    ...FILTERS,
    from: { type: "string", value: "TIME", description: "Only events at or after TIME (ISO 8601).", parse: parse.time },
    to: { type: "string", value: "TIME", description: "Only events before TIME (ISO 8601).", parse: parse.time },
    limit: LIMIT_FLAG,
  },
  async run(ctx) {
    const { bp, connection } = connect(ctx);
    const max = (ctx.flags.limit as number | undefined) ?? 50;
    const query = {
      limit: pageSize(max),
      ...(ctx.flags.types ? { types: ctx.flags.types as string } : {}),
      ...(ctx.flags.tenant ? { tenantId: ctx.flags.tenant as string } : {}),
      ...(ctx.flags.from ? { from: ctx.flags.from as string } : {}),
      ...(ctx.flags.to ? { to: ctx.flags.to as string } : {}),
    };
    const events = await reach(connection, () => take(bp.paginate("/v1/events", { query: query as never }), max));
    if (ctx.json) printJson(ctx.io, events);
    else
      table(
        ctx.io,
        events,
        [
          { heading: "sequence", value: (e) => e.sequence },
          { heading: "time", value: (e) => e.time },
          { heading: "type", value: (e) => e.type },
          { heading: "tenant", value: (e) => e.tenantId },
          { heading: "subject", value: (e) => e.subject },
          { heading: "id", value: (e) => e.id },
        ],
        "No events.",
      );
    return EXIT.ok;
  },
});

/** eventCommands: follow and list the event log through the API. */
export const eventCommands = [tail, list];
