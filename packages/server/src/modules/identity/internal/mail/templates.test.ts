import { describe, expect, it } from "vitest";
import { DEFAULT_TEMPLATES, MAIL_TEMPLATES, type MailTemplateName, renderMail, templateProblems } from "./templates.js";

describe("mail templates", () => {
  it("the built-in templates use only their own placeholders", () => {
    for (const name of Object.keys(MAIL_TEMPLATES) as MailTemplateName[]) {
      expect(templateProblems(name, DEFAULT_TEMPLATES[name]), name).toEqual([]);
    }
  });

  it("refuses unknown placeholders, stray braces and multi-line subjects", () => {
    const ok = { subject: "Hi {{ name }}", text: "{{link}}", html: "<a href='{{link}}'>go</a>" };
    expect(templateProblems("magic_link", ok)).toEqual([]);
    expect(templateProblems("magic_link", { ...ok, text: "{{tenantName}}" })[0]).toContain("unknown placeholder");
    expect(templateProblems("magic_link", { ...ok, html: "{{ process.env }}" })).toHaveLength(1);
    expect(templateProblems("magic_link", { ...ok, text: "{{{link}}}" })).toHaveLength(1);
    expect(templateProblems("magic_link", { ...ok, subject: "a\nb" })).toHaveLength(1);
    expect(templateProblems("email_change_notice", { ...ok, text: "{{link}}" })[0]).toContain("{{link}}");
  });

  it("escapes values in HTML, keeps them in text, and keeps the subject on one line", () => {
    const out = renderMail(
      { subject: "Hello {{name}}", text: "Hi {{name}}: {{link}}", html: '<p>{{name}}</p><a href="{{link}}">x</a>' },
      { name: "<b>Eve</b>\r\nBcc: x@example.com", link: 'https://a.test/?token=1"><script>' },
    );
    expect(out.subject).toBe("Hello <b>Eve</b> Bcc: x@example.com");
    expect(out.text).toContain("<b>Eve</b>\r\nBcc");
    expect(out.html).toBe(
      '<p>&lt;b&gt;Eve&lt;/b&gt;\r\nBcc: x@example.com</p><a href="https://a.test/?token=1&quot;&gt;&lt;script&gt;">x</a>',
    );
    // A value that looks like a placeholder is not expanded again.
    expect(renderMail({ subject: "{{name}}", text: "{{name}}", html: "" }, { name: "{{link}}", link: "L" }).text).toBe(
      "{{link}}",
    );
  });
});
