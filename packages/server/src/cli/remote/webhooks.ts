import { unwrap } from "@baseplate/sdk";
import { defineCommand, EXIT } from "../command.js";
import { printJson, table } from "../io.js";
import { connect, reach, when } from "./client.js";
import { LIMIT_FLAG, pageSize, take } from "./list.js";

const MESSAGE_ARG = [
  { name: "messageId", description: "The webhook message (msg_…), e.g. from the endpoint's messages." },
];

const attempts = defineCommand({
  name: "webhooks attempts",
  section: "remote",
  remote: true,
  json: true,
  summary: "List the delivery attempts of a webhook message: outcome, status code, duration, error.",
  args: MESSAGE_ARG,
  flags: { limit: LIMIT_FLAG },
  async run(ctx) {
    const { bp, connection } = connect(ctx);
    const max = (ctx.flags.limit as number | undefined) ?? 50;
    const messageId = ctx.args.messageId as string;
    const rows = await reach(connection, () =>
      take(
        bp.paginate("/v1/webhooks/messages/{messageId}/attempts", {
          path: { messageId },
          query: { limit: pageSize(max) },
        }),
        max,
      ),
    );
    if (ctx.json) printJson(ctx.io, rows);
    else
      table(
        ctx.io,
        rows,
        [
          { heading: "attempt", value: (a) => a.attempt },
          { heading: "time", value: (a) => when(a.createdAt) },
          { heading: "outcome", value: (a) => a.outcome },
          { heading: "status", value: (a) => a.statusCode },
          { heading: "ms", value: (a) => a.durationMs },
          { heading: "error", value: (a) => a.error },
        ],
        "No attempts yet.",
      );
    return EXIT.ok;
  },
});

const resend = defineCommand({
  name: "webhooks resend",
  section: "remote",
  remote: true,
  json: true,
  summary: "Deliver a webhook message again (its webhook-id stays, so receivers deduplicate).",
  args: MESSAGE_ARG,
  async run(ctx) {
    const { bp, connection } = connect(ctx);
    const messageId = ctx.args.messageId as string;
    const message = await reach(connection, () =>
      unwrap(bp.POST("/v1/webhooks/messages/{messageId}/resend", { params: { path: { messageId } } })),
    );
    if (ctx.json) printJson(ctx.io, message);
    else ctx.io.out(`${message.id} (${message.eventType}) to ${message.endpointId}: ${message.status}, queued again.`);
    return EXIT.ok;
  },
});

/** remoteWebhookCommands: inspect and resend webhook deliveries through the API. */
export const remoteWebhookCommands = [attempts, resend];
