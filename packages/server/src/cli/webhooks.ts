import { userInfo } from "node:os";
import { createApp } from "../app.js";
import { loadConfig } from "../config.js";
import { webhooksModule } from "../modules/webhooks/index.js";
import { newId } from "../platform/ids.js";
import type { AnyModule } from "../platform/module.js";
import { systemContext } from "../platform/principal.js";
import { defineCommand } from "./command.js";
import { type CliIo, printJson } from "./io.js";

/** recover runs `baseplate webhooks recover <endpointId> --since TIME`. */
async function recover(
  io: CliIo,
  endpointId: string | undefined,
  values: Record<string, unknown>,
  modules?: readonly AnyModule[],
): Promise<number> {
  const raw = typeof values.since === "string" ? values.since.trim() : "";
  const since = /^\d+$/.test(raw) ? Number(raw) : Date.parse(raw);
  if (!endpointId || raw === "" || Number.isNaN(since)) {
    io.err("baseplate: use `baseplate webhooks recover <endpointId> --since 2026-11-26T00:00:00Z`.");
    return 2;
  }
  const config = loadConfig(io.env);
  const app = await createApp({ config: { ...config, logLevel: "warn" }, ...(modules ? { modules } : {}) });
  try {
    await app.start({ listen: false, workers: false });
    let who = "unknown";
    try {
      who = userInfo().username;
    } catch {
      // no passwd entry (containers)
    }
    const webhooks = app.service(webhooksModule);
    const result = await webhooks.messages.recoverEndpointAnywhere(
      systemContext(newId("request"), `cli:${who}`),
      endpointId,
      since,
    );
    if (!result) {
      io.err(`baseplate: no webhook endpoint ${endpointId}.`);
      return 1;
    }
    if (values.json === true) {
      printJson(io, { endpointId, since: new Date(since).toISOString(), recovered: result.recovered });
      return 0;
    }
    io.out(
      `${result.recovered} failed message(s) of ${endpointId} since ${new Date(since).toISOString()} are back in line.`,
    );
    return 0;
  } finally {
    await app.stop();
  }
}

/** webhooksRecoverCommand: `baseplate webhooks recover <endpointId> --since TIME`. */
export const webhooksRecoverCommand = defineCommand({
  name: "webhooks recover",
  section: "local",
  summary: "Resend every failed message of the endpoint created since TIME, e.g. after the receiver was fixed.",
  args: [{ name: "endpointId", description: "The webhook endpoint (whe_…), in any environment." }],
  flags: {
    since: {
      type: "string",
      value: "TIME",
      required: true,
      description: "ISO 8601 (2026-11-26T00:00:00Z) or epoch milliseconds.",
    },
  },
  json: true,
  run: ({ io, args, flags, json, modules }) => recover(io, args.endpointId, { ...flags, json }, modules),
});
