import { z } from "zod";

/** MAIL_TEMPLATES: the mails the plane sends, each with the placeholders it may use. */
export const MAIL_TEMPLATES = {
  verify_email: ["productName", "email", "name", "link", "expiresInMinutes"],
  password_reset: ["productName", "email", "name", "link", "expiresInMinutes"],
  magic_link: ["productName", "email", "name", "link", "expiresInMinutes"],
  invitation: ["productName", "email", "tenantName", "link", "expiresInMinutes"],
  email_change_confirm: ["productName", "email", "name", "newEmail", "link", "expiresInMinutes"],
  email_change_notice: ["productName", "email", "name", "newEmail"],
} as const;
export type MailTemplateName = keyof typeof MAIL_TEMPLATES;
export const MailTemplateName = z.enum(Object.keys(MAIL_TEMPLATES) as [MailTemplateName, ...MailTemplateName[]]);

/** TOKEN_TEMPLATES: mails carrying a single-use link; their bodies are blanked once sent. */
export const TOKEN_TEMPLATES: ReadonlySet<string> = new Set<MailTemplateName>([
  "verify_email",
  "password_reset",
  "magic_link",
  "invitation",
  "email_change_confirm",
]);

export interface MailContent {
  subject: string;
  text: string;
  html: string;
}

const layout = (body: string) =>
  `<!doctype html><html><body style="font-family:sans-serif;line-height:1.5;color:#222">${body}</body></html>`;
const button = `<p><a href="{{link}}" style="display:inline-block;padding:10px 16px;background:#222;color:#fff;text-decoration:none;border-radius:4px">`;

/** DEFAULT_TEMPLATES: the built-in mails, used while a surface has no override. */
export const DEFAULT_TEMPLATES: Record<MailTemplateName, MailContent> = {
  verify_email: {
    subject: "Confirm your email address for {{productName}}",
    text: "Hello {{name}},\n\nConfirm your email address ({{email}}) for {{productName}} by opening this link:\n\n{{link}}\n\nThe link works once and expires in {{expiresInMinutes}} minutes. If you did not sign up, ignore this mail.\n",
    html: layout(
      `<p>Hello {{name}},</p><p>Confirm your email address ({{email}}) for {{productName}}.</p>${button}Confirm my address</a></p><p>The link works once and expires in {{expiresInMinutes}} minutes. If you did not sign up, ignore this mail.</p>`,
    ),
  },
  password_reset: {
    subject: "Reset your {{productName}} password",
    text: "Hello {{name}},\n\nSomeone asked to reset the password of {{email}} on {{productName}}. To choose a new one, open this link:\n\n{{link}}\n\nThe link works once and expires in {{expiresInMinutes}} minutes. If it was not you, ignore this mail: your password stays as it is.\n",
    html: layout(
      `<p>Hello {{name}},</p><p>Someone asked to reset the password of {{email}} on {{productName}}.</p>${button}Choose a new password</a></p><p>The link works once and expires in {{expiresInMinutes}} minutes. If it was not you, ignore this mail: your password stays as it is.</p>`,
    ),
  },
  magic_link: {
    subject: "Your sign-in link for {{productName}}",
    text: "Hello {{name}},\n\nOpen this link to sign in to {{productName}} as {{email}}:\n\n{{link}}\n\nThe link works once and expires in {{expiresInMinutes}} minutes. If you did not ask for it, ignore this mail.\n",
    html: layout(
      `<p>Hello {{name}},</p><p>Sign in to {{productName}} as {{email}}.</p>${button}Sign in</a></p><p>The link works once and expires in {{expiresInMinutes}} minutes. If you did not ask for it, ignore this mail.</p>`,
    ),
  },
  invitation: {
    subject: "You are invited to join {{tenantName}} on {{productName}}",
    text: "Hello,\n\nYou ({{email}}) are invited to join {{tenantName}} on {{productName}}. To accept, open this link:\n\n{{link}}\n\nThe invitation expires in {{expiresInMinutes}} minutes.\n",
    html: layout(
      `<p>Hello,</p><p>You ({{email}}) are invited to join {{tenantName}} on {{productName}}.</p>${button}Accept the invitation</a></p><p>The invitation expires in {{expiresInMinutes}} minutes.</p>`,
    ),
  },
  email_change_confirm: {
    subject: "Confirm your new email address for {{productName}}",
    text: "Hello {{name}},\n\nTo make {{newEmail}} the address of your {{productName}} account (now {{email}}), open this link:\n\n{{link}}\n\nThe link works once and expires in {{expiresInMinutes}} minutes. If you did not ask for this, ignore this mail.\n",
    html: layout(
      `<p>Hello {{name}},</p><p>To make {{newEmail}} the address of your {{productName}} account (now {{email}}), confirm below.</p>${button}Confirm the new address</a></p><p>The link works once and expires in {{expiresInMinutes}} minutes. If you did not ask for this, ignore this mail.</p>`,
    ),
  },
  email_change_notice: {
    subject: "Your {{productName}} email address is being changed",
    text: "Hello {{name}},\n\nSomeone signed in to your {{productName}} account ({{email}}) asked to change its address to {{newEmail}}. The change happens only once the new address is confirmed. If it was not you, change your password now.\n",
    html: layout(
      `<p>Hello {{name}},</p><p>Someone signed in to your {{productName}} account ({{email}}) asked to change its address to {{newEmail}}. The change happens only once the new address is confirmed.</p><p>If it was not you, change your password now.</p>`,
    ),
  },
};

/** MAIL_LIMITS: the largest subject, text and HTML a template may have (characters). */
export const MAIL_LIMITS = { subject: 300, text: 20_000, html: 100_000 } as const;

const PLACEHOLDER = /\{\{\s*([A-Za-z]+)\s*\}\}/g;

/**
 * templateProblems lists what is wrong with a template for `name`: placeholders it may not use,
 * stray braces, a subject on more than one line. An empty list means it is safe to store.
 */
export function templateProblems(name: MailTemplateName, content: MailContent): string[] {
  const allowed = new Set<string>(MAIL_TEMPLATES[name]);
  const problems: string[] = [];
  if (/[\r\n]/.test(content.subject)) problems.push("subject: must be one line");
  for (const part of ["subject", "text", "html"] as const) {
    const value = content[part];
    for (const match of value.matchAll(PLACEHOLDER)) {
      const key = match[1] as string;
      if (!allowed.has(key))
        problems.push(`${part}: unknown placeholder {{${key}}} (allowed: ${[...allowed].join(", ")})`);
    }
    if (/\{\{\{|\}\}\}/.test(value) || /\{\{|\}\}/.test(value.replace(PLACEHOLDER, "")))
      problems.push(`${part}: a "{{" or "}}" that is no placeholder`);
  }
  return problems;
}

/** MailVars: the values a mail's placeholders take. */
export type MailVars = Partial<Record<string, string | number | null>>;

/**
 * renderMail fills a template's placeholders: values as they are in the text part, HTML-escaped
 * in the HTML part, and in the subject with every control character (CR, LF, …) replaced by a
 * space so no value can start a header. Nothing in a template is evaluated.
 */
export function renderMail(content: MailContent, vars: MailVars): MailContent {
  const fill = (template: string, encode: (v: string) => string) =>
    template.replace(PLACEHOLDER, (_, key: string) => encode(String(vars[key] ?? "")));
  return {
    subject: oneLine(fill(content.subject, (v) => v)),
    text: fill(content.text, (v) => v),
    html: fill(content.html, escapeHtml),
  };
}

/** oneLine replaces every control character (CR, LF, tab, …) with a space: a subject can never start a header. */
export function oneLine(value: string): string {
  let out = "";
  for (const ch of value) {
    const code = ch.codePointAt(0) ?? 0;
    out += code < 0x20 || code === 0x7f ? " " : ch;
  }
  return out.replace(/ {2,}/g, " ").trim().slice(0, 998);
}

export function escapeHtml(value: string): string {
  return value.replace(
    /[&<>"'`]/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;", "`": "&#96;" })[c] as string,
  );
}
