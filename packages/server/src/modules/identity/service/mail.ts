import type { Selectable } from "kysely";
import type { z } from "zod";
import type { Tx } from "../../../platform/db/db.js";
import { AppError } from "../../../platform/errors.js";
import { pageById } from "../../../platform/http/pagination.js";
import { iso, isoOrNull } from "../../../platform/http/schemas.js";
import { defaultRetryDelayMs, RetryLaterError } from "../../../platform/jobs/index.js";
import type { ActionContext } from "../../../platform/principal.js";
import { TenancyErrors } from "../../tenancy/index.js";
import { newId } from "../ids.js";
import type { Core } from "../internal/core.js";
import {
  DEFAULT_TEMPLATES,
  type MailContent,
  type MailTemplateName,
  type MailVars,
  renderMail,
  TOKEN_TEMPLATES,
} from "../internal/mail/templates.js";
import { MailTransport } from "../internal/mail/transport.js";
import type { AuthSettings } from "../internal/settings/index.js";
import type { ListMailsQuery, Mail } from "../schemas.js";
import type { MailOutboxTable } from "../tables.js";
import type { AuthSettingsService } from "./auth-settings.js";

/** SEND_MAIL_JOB sends one outbox mail; queued in the transaction that wrote the mail. */
export const SEND_MAIL_JOB = "identity.send_mail";
/** PRUNE_MAIL_JOB deletes outbox rows past `MAIL_RETENTION_MS` that are done (sent, logged, failed). */
export const PRUNE_MAIL_JOB = "identity.prune_mail_outbox";
/** MAIL_RETENTION_MS: how long the outbox keeps a finished mail (its metadata; token bodies are gone at send). */
export const MAIL_RETENTION_MS = 30 * 86_400_000;
/** MAIL_MAX_ATTEMPTS: SMTP attempts before a mail is marked failed (backoff 1 s, 2 s, 4 s … about 2 hours in all). */
export const MAIL_MAX_ATTEMPTS = 14;

/** MailSurface: the surface a mail is sent for (its name is the default product name). */
export interface MailSurface {
  id: string;
  name: string;
  environmentId: string;
}

/** QueueMailInput: one mail from a template of a surface. */
export interface QueueMailInput {
  surface: MailSurface;
  to: string;
  template: MailTemplateName;
  vars: MailVars;
}

/**
 * MailService: the outbox. `queue` renders a surface's template and writes the mail with its
 * sending job inside the caller's transaction, so a committed change always gets its mail and a
 * rolled-back one never does. The job sends over SMTP with retries; without `BASEPLATE_SMTP_URL`
 * it writes the mail (link included) to the log at info level and marks it `logged`. Once sent,
 * a mail carrying a single-use link keeps its metadata only: its bodies are blanked.
 */
export class MailService {
  readonly transport: MailTransport | null;

  constructor(
    private readonly c: Core,
    private readonly authSettings: AuthSettingsService,
  ) {
    this.transport = c.config.mail.smtpUrl ? new MailTransport(c.config.mail.smtpUrl) : null;
  }

  /**
   * linkFor builds `<appUrl>/auth/<path>?token=…` for a surface, or null when the surface has no
   * `email.appUrl` (then no mail with a link can be sent).
   */
  linkFor(settings: AuthSettings, path: string, token: string): string | null {
    const base = settings.email.appUrl;
    if (!base) return null;
    const url = new URL(`auth/${path}`, base.endsWith("/") ? base : `${base}/`);
    url.searchParams.set("token", token);
    return url.toString();
  }

  /** queue writes one mail and its sending job inside `tx` (it reads nothing outside `tx`). Returns the mail's id. */
  async queue(tx: Tx, input: QueueMailInput): Promise<string> {
    const { surface } = input;
    const settings = await this.authSettings.settingsFor(surface.id, tx);
    const content = await this.templateOf(surface.id, input.template, tx);
    const rendered = renderMail(content, {
      productName: settings.email.productName ?? surface.name,
      email: input.to,
      ...input.vars,
    });
    const now = this.c.clock.now();
    const id = newId("mail", now);
    await this.c.tables
      .q(tx)
      .insertInto("mail_outbox")
      .values({
        id,
        environment_id: surface.environmentId,
        surface_id: surface.id,
        to_address: input.to,
        subject: rendered.subject,
        text: rendered.text,
        html: rendered.html,
        template: input.template,
        status: "queued",
        attempts: 0,
        last_error: null,
        created_at: now,
        sent_at: null,
      })
      .execute();
    await this.c.jobs.enqueue(tx, SEND_MAIL_JOB, { mailId: id }, { environmentId: surface.environmentId });
    return id;
  }

  /**
   * queueInvitation mails an invitation's accept link (`<appUrl>/auth/accept-invitation?token=…`)
   * inside the access module's transaction. Returns false (nothing queued) when the surface has no
   * `email.appUrl`: the product then delivers the token itself.
   */
  async queueInvitation(
    tx: Tx,
    input: { surface: MailSurface; email: string; token: string; tenantName: string; expiresAt: number },
  ): Promise<boolean> {
    const settings = await this.authSettings.settingsFor(input.surface.id, tx);
    const link = this.linkFor(settings, "accept-invitation", input.token);
    if (!link) return false;
    await this.queue(tx, {
      surface: input.surface,
      to: input.email,
      template: "invitation",
      vars: {
        link,
        tenantName: input.tenantName,
        expiresInMinutes: Math.round((input.expiresAt - this.c.clock.now()) / 60_000),
      },
    });
    return true;
  }

  /** templateOf is a surface's template: its override, else the built-in one. */
  async templateOf(surfaceId: string, template: MailTemplateName, tx?: Tx): Promise<MailContent> {
    const row = await this.c.tables
      .q(tx)
      .selectFrom("mail_template")
      .select(["subject", "text", "html"])
      .where("surface_id", "=", surfaceId)
      .where("template", "=", template)
      .executeTakeFirst();
    return row ?? DEFAULT_TEMPLATES[template];
  }

  /**
   * deliver is the send job: one SMTP attempt for a queued mail. A refusal records the error and
   * throws a `RetryLaterError` (exponential backoff) until the last attempt marks it `failed`.
   * A mail already sent (a job run again) is not sent twice.
   */
  async deliver(mailId: string, attempt: number, maxAttempts: number): Promise<void> {
    const row = await this.c.tables
      .q()
      .selectFrom("mail_outbox")
      .selectAll()
      .where("id", "=", mailId)
      .executeTakeFirst();
    if (row?.status !== "queued") return;
    const now = () => this.c.clock.now();
    if (!this.transport) {
      this.c.logger.info(
        { mail: { id: row.id, to: row.to_address, subject: row.subject, text: row.text } },
        "mail not sent: no BASEPLATE_SMTP_URL (kept in the outbox as logged; `baseplate mail show` prints it)",
      );
      await this.#finish(row.id, { status: "logged", attempts: attempt, sent_at: now(), last_error: null });
      return;
    }
    const settings = row.surface_id ? await this.authSettings.settingsFor(row.surface_id) : null;
    try {
      await this.transport.send({
        id: row.id,
        from: senderOf(settings, this.c.config.mail.from),
        to: row.to_address,
        subject: row.subject,
        text: row.text ?? "",
        html: row.html ?? "",
      });
    } catch (err) {
      const message = String((err as Error).message ?? err).slice(0, 500);
      const last = attempt >= maxAttempts;
      await this.#finish(row.id, { status: last ? "failed" : "queued", attempts: attempt, last_error: message });
      throw new RetryLaterError(`mail ${row.id} not sent: ${message}`, defaultRetryDelayMs(attempt), {
        mailId: row.id,
        attempt,
      });
    }
    const blank = TOKEN_TEMPLATES.has(row.template) ? { text: null, html: null } : {};
    await this.#finish(row.id, { status: "sent", attempts: attempt, sent_at: now(), last_error: null, ...blank });
  }

  async #finish(id: string, set: Partial<Selectable<MailOutboxTable>>): Promise<void> {
    await this.c.tables
      .q()
      .updateTable("mail_outbox")
      .set(set)
      .where("id", "=", id)
      .where("status", "=", "queued")
      .execute();
  }

  /** prune deletes finished mails older than `MAIL_RETENTION_MS`. */
  async prune(): Promise<number> {
    const result = await this.c.tables
      .q()
      .deleteFrom("mail_outbox")
      .where("created_at", "<", this.c.clock.now() - MAIL_RETENTION_MS)
      .where("status", "in", ["sent", "logged", "failed"])
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  /**
   * listMails: an environment's outbox for operators, newest first. Bodies of mails carrying a
   * single-use link are redacted while SMTP is configured (they are only readable on a plane that
   * sends nothing, for local testing).
   */
  async listMails(ctx: ActionContext, environmentId: string, query: z.infer<typeof ListMailsQuery>) {
    this.c.access.operator(ctx, "mails:read");
    if (!(await this.c.tenancy.projects.environmentExists(environmentId)))
      throw new AppError(TenancyErrors.environment_not_found, `No environment ${environmentId}.`);
    return pageById(
      this.c.tables
        .q()
        .selectFrom("mail_outbox")
        .selectAll()
        .where("environment_id", "=", environmentId)
        .$if(query.to !== undefined, (qb) => qb.where("to_address", "=", (query.to as string).trim()))
        .$if(query.status !== undefined, (qb) => qb.where("status", "=", query.status as "sent")),
      query,
      (r) => this.toMail(r, { reveal: this.transport === null }),
      { descending: true },
    );
  }

  /** listAnywhere: the newest mails of every environment (the CLI, on the operator's machine). */
  async listAnywhere(limit: number): Promise<Mail[]> {
    const rows = await this.c.tables
      .q()
      .selectFrom("mail_outbox")
      .selectAll()
      .orderBy("id", "desc")
      .limit(limit)
      .execute();
    return rows.map((r) => this.toMail(r, { reveal: true }));
  }

  async findMailAnywhere(id: string): Promise<Mail | null> {
    const row = await this.c.tables.q().selectFrom("mail_outbox").selectAll().where("id", "=", id).executeTakeFirst();
    return row ? this.toMail(row, { reveal: true }) : null;
  }

  toMail(r: Selectable<MailOutboxTable>, options: { reveal: boolean }): Mail {
    const redacted = !options.reveal && TOKEN_TEMPLATES.has(r.template) && (r.text !== null || r.html !== null);
    return {
      id: r.id,
      environmentId: r.environment_id,
      surfaceId: r.surface_id,
      to: r.to_address,
      subject: r.subject,
      template: r.template,
      status: r.status,
      attempts: Number(r.attempts),
      lastError: r.last_error,
      text: redacted ? null : r.text,
      html: redacted ? null : r.html,
      redacted,
      createdAt: iso(r.created_at),
      sentAt: isoOrNull(r.sent_at),
    };
  }

  close(): void {
    this.transport?.close();
  }
}

/** senderOf: the surface's own sender when set, else `BASEPLATE_MAIL_FROM`. */
function senderOf(settings: AuthSettings | null, fallback: string): string | { name: string; address: string } {
  const address = settings?.email.senderAddress;
  if (!address) return fallback;
  return { name: settings?.email.senderName ?? settings?.email.productName ?? "", address };
}
