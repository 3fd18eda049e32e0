import { type ParsedMail, simpleParser } from "mailparser";
import { SMTPServer } from "smtp-server";

/**
 * SmtpReceiver is a real SMTP server on 127.0.0.1 for tests: it accepts every mail (no TLS, no
 * authentication) and keeps it parsed. `close` and `listen(port)` again simulate an outage.
 */
export class SmtpReceiver {
  readonly received: ParsedMail[] = [];
  #server: SMTPServer | null = null;
  port = 0;

  get url(): string {
    return `smtp://127.0.0.1:${this.port}`;
  }

  async listen(port = this.port): Promise<void> {
    const server = new SMTPServer({
      authOptional: true,
      disabledCommands: ["STARTTLS", "AUTH"],
      logger: false,
      onData: (stream, _session, callback) => {
        simpleParser(stream)
          .then((mail) => {
            this.received.push(mail);
            callback();
          })
          .catch((err: Error) => callback(err));
      },
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => resolve());
    });
    const address = server.server.address();
    this.port = typeof address === "object" && address ? address.port : port;
    this.#server = server;
  }

  async close(): Promise<void> {
    const server = this.#server;
    this.#server = null;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** to: the mails received for one address, oldest first. */
  to(address: string): ParsedMail[] {
    return this.received.filter((m) => addresses(m).includes(address.toLowerCase()));
  }
}

function addresses(mail: ParsedMail): string[] {
  const to = Array.isArray(mail.to) ? mail.to : mail.to ? [mail.to] : [];
  return to.flatMap((a) => a.value.map((v) => (v.address ?? "").toLowerCase()));
}

/** linkToken: the `token` of the first link to `<base>/auth/<path>` in a mail's text. */
export function linkToken(mail: ParsedMail | undefined, path: string): string {
  const match = new RegExp(`/auth/${path}\\?token=([A-Za-z0-9_]+)`).exec(mail?.text ?? "");
  if (!match?.[1]) throw new Error(`no /auth/${path} link in ${JSON.stringify(mail?.text)}`);
  return match[1];
}
