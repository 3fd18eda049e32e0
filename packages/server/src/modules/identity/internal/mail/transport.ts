import nodemailer, { type Transporter } from "nodemailer";

/** OutgoingMail: one rendered mail, ready for the wire. */
export interface OutgoingMail {
  id: string;
  from: string | { name: string; address: string };
  to: string;
  subject: string;
  text: string;
  html: string;
}

/**
 * MailTransport sends mails over SMTP (`BASEPLATE_SMTP_URL`): STARTTLS when the server offers it
 * on `smtp://`, TLS from the first byte on `smtps://`. Each mail carries `Message-ID:
 * <mail id@baseplate>`, so a mail sent again after a crash between the server's acceptance and
 * the outbox update can be recognized as the same one. `send` throws on any refusal.
 */
export class MailTransport {
  readonly #transporter: Transporter;

  constructor(smtpUrl: string) {
    this.#transporter = nodemailer.createTransport({
      url: smtpUrl,
      connectionTimeout: 10_000,
      greetingTimeout: 10_000,
      socketTimeout: 30_000,
    });
  }

  async send(mail: OutgoingMail): Promise<void> {
    await this.#transporter.sendMail({
      from: mail.from,
      to: mail.to,
      subject: mail.subject,
      text: mail.text,
      html: mail.html,
      messageId: `<${mail.id}@baseplate>`,
      // NOTE: the address was validated on input; nodemailer refuses header line breaks itself too.
      disableFileAccess: true,
      disableUrlAccess: true,
    });
  }

  close(): void {
    this.#transporter.close();
  }
}
