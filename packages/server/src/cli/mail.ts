import { createApp } from "../app.js";
import { loadConfig } from "../config.js";
import { identityModule } from "../modules/identity/index.js";
import type { AnyModule } from "../platform/module.js";
import type { CliIo } from "./index.js";

export const MAIL_HELP = `  mail list [--json]     The newest 50 mails of the outbox (every environment): status, recipient,
                         subject. Without BASEPLATE_SMTP_URL mails are only logged: read them here.
  mail show <mailId> [--json]
                         One mail with its text (a single-use link's body is gone once sent).`;

/** mailCommand runs `baseplate mail list` and `baseplate mail show <mailId>`. */
export async function mailCommand(
  io: CliIo,
  sub: string | undefined,
  mailId: string | undefined,
  values: { json?: boolean },
  modules?: readonly AnyModule[],
): Promise<number> {
  if (sub !== "list" && !(sub === "show" && mailId)) {
    io.err("baseplate: use `baseplate mail list` or `baseplate mail show <mailId>`.");
    return 2;
  }
  const config = loadConfig(io.env);
  const app = await createApp({ config: { ...config, logLevel: "warn" }, ...(modules ? { modules } : {}) });
  try {
    await app.start({ listen: false, workers: false });
    const mail = app.service(identityModule).mail;
    if (sub === "list") {
      const mails = await mail.listAnywhere(50);
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
    const found = await mail.findMailAnywhere(mailId as string);
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
