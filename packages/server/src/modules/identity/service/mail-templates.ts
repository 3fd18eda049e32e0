import type { z } from "zod";
import { AppError } from "../../../platform/errors.js";
import type { ActionContext } from "../../../platform/principal.js";
import { IdentityErrors } from "../errors.js";
import type { Core } from "../internal/core.js";
import {
  DEFAULT_TEMPLATES,
  MAIL_TEMPLATES,
  type MailContent,
  type MailTemplateName,
  templateProblems,
} from "../internal/mail/templates.js";
import type { SurfaceMailTemplates, UpdateMailTemplatesInput } from "../schemas.js";
import type { AuthSettingsService } from "./auth-settings.js";

/**
 * MailTemplatesService: a surface's mail templates (subject, text, HTML), each a built-in default
 * until the surface overrides it. A template is checked when saved: only its own placeholders,
 * no stray braces, a one-line subject, bounded sizes (422 `invalid_mail_template` otherwise).
 */
export class MailTemplatesService {
  constructor(
    private readonly c: Core,
    private readonly authSettings: AuthSettingsService,
  ) {}

  async getTemplates(ctx: ActionContext, surfaceId: string): Promise<z.infer<typeof SurfaceMailTemplates>> {
    await this.authSettings.surfaceFor(ctx, surfaceId, "surfaces:read");
    return this.#read(surfaceId);
  }

  /** updateTemplates sets or resets (null) templates in one write with its fact. */
  async updateTemplates(
    ctx: ActionContext,
    surfaceId: string,
    input: z.infer<typeof UpdateMailTemplatesInput>,
  ): Promise<z.infer<typeof SurfaceMailTemplates>> {
    const surface = await this.authSettings.surfaceFor(ctx, surfaceId, "surfaces:write");
    const entries = Object.entries(input.templates) as [MailTemplateName, MailContent | null][];
    const problems = entries.flatMap(([name, content]) =>
      content ? templateProblems(name, content).map((p) => `${name}.${p}`) : [],
    );
    if (problems.length > 0) {
      throw new AppError(IdentityErrors.invalid_mail_template, problems.join("; "), {
        errors: problems.map((message) => ({ path: `templates.${message.split(":")[0]}`, message, code: "custom" })),
      });
    }
    await this.c.db.write(ctx, async (tx) => {
      const now = this.c.clock.now();
      for (const [name, content] of entries) {
        await tx.deleteFrom("mail_template").where("surface_id", "=", surfaceId).where("template", "=", name).execute();
        if (content) {
          await tx
            .insertInto("mail_template")
            .values({
              surface_id: surfaceId,
              template: name,
              environment_id: surface.environmentId,
              ...content,
              updated_at: now,
            })
            .execute();
        }
      }
      await this.c.facts.record(tx, ctx, {
        type: "surface.mail_templates_updated",
        environmentId: surface.environmentId,
        targets: [{ type: "surface", id: surfaceId }],
        data: {
          set: entries.filter(([, c]) => c !== null).map(([n]) => n),
          reset: entries.filter(([, c]) => c === null).map(([n]) => n),
        },
      });
    });
    return this.#read(surfaceId);
  }

  async #read(surfaceId: string): Promise<z.infer<typeof SurfaceMailTemplates>> {
    const rows = await this.c.tables
      .q()
      .selectFrom("mail_template")
      .selectAll()
      .where("surface_id", "=", surfaceId)
      .execute();
    const custom = new Map(rows.map((r) => [r.template, r]));
    return {
      surfaceId,
      templates: (Object.keys(MAIL_TEMPLATES) as MailTemplateName[]).map((name) => {
        const row = custom.get(name);
        const content = row ? { subject: row.subject, text: row.text, html: row.html } : DEFAULT_TEMPLATES[name];
        return { template: name, ...content, placeholders: [...MAIL_TEMPLATES[name]], custom: row !== undefined };
      }),
    };
  }
}
