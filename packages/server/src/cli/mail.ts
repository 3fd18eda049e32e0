import { createApp } from "../app.js";
import { loadConfig } from "../config.js";
import { identityModule } from "../modules/identity/index.js";
import type { AnyModule } from "../platform/module.js";
import { defineCommand } from "./command.js";
import type { CliIo } from "./io.js";

/** mail runs `baseplate mail list` and `baseplate mail show <mailId>`. */
async function mail(
  io: CliIo,
  sub: string | undefined,
  mailId: string | undefined,
  values: { json?: boolean },
  modules?: readonly AnyModule[],
): Promise<number> {
  const config = loadConfig(io.env);
  const app = await createApp({ config: { ...config, logLevel: "warn" }, ...(modules ? { modules } : {}) });
  try {
    await app.start({ listen: false, workers: false });
    const outbox = app.service(identityModule).mail;
    if (sub === "list") {
      const mails = await outbox.listAnywhere(50);
      if (values.json) {
        io.out(JSON.stringify(mails.map(({ text: _t, html: _h, ...rest }) => rest)));
        return 0;
      }
      if (mails.length === 0) io.out("The outbox is empty.");
      for (const m of mails) {
        io.out(`${m.id}  ${new Date(m.createdAt).toISOString()}  ${m.status.padEnd(6)}  ${m.to}  ${m.subject}`);
      }
      return 0;
    }
    const found = await outbox.findMailAnywhere(mailId as string);
    if (!found) {
      io.err(`baseplate: no mail ${mailId}.`);
      return 1;
    }
    if (values.json) {
      io.out(JSON.stringify(found));
      return 0;
    }
    io.out(`Mail:     ${found.id} (${found.template}, ${found.status}, ${found.attempts} attempt(s))`);
    io.out(`To:       ${found.to}`);
    io.out(`Subject:  ${found.subject}`);
    if (found.lastError) io.out(`Error:    ${found.lastError}`);
    io.out("");
    io.out(found.text ?? "(body removed after sending: it carried a single-use link)");
    return 0;
  } finally {
    await app.stop();
  }
}

/** mailCommands: read the outbox on this machine's database. */
export const mailCommands = [
  defineCommand({
    name: "mail list",
    section: "local",
    summary: "The newest 50 mails of the outbox (every environment): status, recipient, subject.",
    description: "Without BASEPLATE_SMTP_URL mails are only logged: read them here.",
    json: true,
    run: ({ io, json, modules }) => mail(io, "list", undefined, { json }, modules),
  }),
  defineCommand({
    name: "mail show",
    section: "local",
    summary: "One mail with its text (a single-use link's body is gone once sent).",
    args: [{ name: "mailId", description: "The mail (see `baseplate mail list`)." }],
    json: true,
    run: ({ io, args, json, modules }) => mail(io, "show", args.mailId, { json }, modules),
  }),
];
