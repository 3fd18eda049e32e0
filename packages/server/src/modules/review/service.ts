import { createRequire } from "node:module";
import type { z } from "zod";
import { canonicalJson } from "../../platform/canonical-json.js";
import { documentBody as body, CSP_DOCUMENT } from "../../platform/http/documents.js";
import type { StreamedBody } from "../../platform/http/route.js";
import type { ModuleContext } from "../../platform/module.js";
import type { ActionContext } from "../../platform/principal.js";
import { REVIEW_TOPICS, type ReviewPart, type ReviewScope } from "../../platform/review.js";
import type { AuditService } from "../audit/index.js";
import type { TenancyService } from "../tenancy/index.js";
import { renderHtml, renderMarkdown } from "./render.js";
import { renderReviewPdf } from "./render-pdf.js";
import type { ReviewQuery, ReviewReport, SignedReview } from "./schemas.js";
import { scopingSelfTest } from "./self-test.js";

const pkg = createRequire(import.meta.url)("../../../package.json") as { version: string };
const DAY = 86_400_000;

/**
 * ReviewService generates the review report from the live plane: every module's parts (their
 * `review` declarations) by topic, the isolation self-test, the audit chain's head and latest
 * checkpoint, signed with the audit signing key. The environment's report needs `review:read` on
 * the environment (secret keys, operators); the tenant's, `review:read` in that tenant (its owners
 * and admins, its keys), and covers only that tenant's objects.
 */
export class ReviewService {
  constructor(
    private readonly m: ModuleContext,
    private readonly tenancy: TenancyService,
    private readonly audit: AuditService,
  ) {}

  /** report generates and signs the report of the caller's environment, or of one of its tenants. */
  async report(ctx: ActionContext, query: z.infer<typeof ReviewQuery>, tenantId?: string): Promise<SignedReview> {
    const environmentId =
      tenantId === undefined
        ? this.m.access.environment(ctx, "review:read").environmentId
        : (await this.m.access.require(ctx, "review:read", { tenantId })).environmentId;
    const now = this.m.clock.now();
    const scope: ReviewScope = { environmentId, tenantId: tenantId ?? null, since: now - query.periodDays * DAY, now };
    const chain = tenantId ?? environmentId;
    const [environmentName, production, tenant, head, checkpoint] = await Promise.all([
      this.tenancy.projects.environmentName(environmentId),
      this.tenancy.projects.isProduction(environmentId),
      tenantId ? this.tenancy.tenants.findTenantAnywhere(tenantId) : Promise.resolve(null),
      this.audit.chains.readHead(chain),
      this.audit.checkpoints.latestCheckpoint(chain),
    ]);
    // Parts one after the other: a report is rare, and each part's queries are its own.
    const parts: Array<ReviewPart & { name: string; topic: string }> = [];
    for (const contributor of this.m.review.contributors()) {
      const part = await contributor.collect(scope, ctx);
      if (part) parts.push({ ...part, name: contributor.name, topic: contributor.topic });
    }
    parts.push({
      ...(await scopingSelfTest(this.m, this.tenancy, scope)),
      name: "review.selfTest",
      topic: "dataScoping",
    });
    const keyId = await this.audit.checkpoints.signingKeyId();
    const report: ReviewReport = {
      v: 1,
      kind: "baseplate.review",
      generatedAt: new Date(now).toISOString(),
      period: { from: new Date(scope.since).toISOString(), to: new Date(now).toISOString() },
      plane: { version: pkg.version, engine: this.m.db.engine },
      environment: { id: environmentId, name: environmentName, production },
      tenant: tenantId ? { id: tenantId, name: tenant?.name ?? null } : null,
      audit: {
        chain,
        size: head?.size ?? 0,
        headHash: head?.hash ?? null,
        checkpoint: checkpoint
          ? {
              size: checkpoint.size,
              time: checkpoint.time,
              keyId: checkpoint.keyId,
              checkpointHash: checkpoint.checkpointHash,
            }
          : null,
      },
      topics: REVIEW_TOPICS.map((t) => ({
        topic: t.topic,
        title: t.title,
        question: t.question,
        parts: parts
          .filter((p) => p.topic === t.topic)
          .map((p) => ({ name: p.name, title: p.title, blocks: p.blocks, figures: p.figures })),
      })),
      signing: { algorithm: "Ed25519", keyId },
    };
    const signed = await this.audit.checkpoints.signDocument(Buffer.from(canonicalJson(report)));
    if (signed.keyId !== keyId) throw new Error("the audit signing key changed while the report was signed: try again");
    return { report, signature: signed.signature };
  }

  /** document is the report in the format asked for: the signed JSON, or a rendering of it for people. */
  async document(
    ctx: ActionContext,
    query: z.infer<typeof ReviewQuery>,
    tenantId?: string,
  ): Promise<SignedReview | StreamedBody> {
    const signed = await this.report(ctx, query, tenantId);
    if (query.format === "json") return signed;
    const name = `review-${tenantId ?? signed.report.environment.id}-${signed.report.generatedAt.slice(0, 10)}`;
    const common = { "cache-control": "private, no-store" };
    if (query.format === "markdown") {
      return body("text/markdown; charset=utf-8", Buffer.from(renderMarkdown(signed), "utf8"), {
        ...common,
        "content-disposition": `attachment; filename="${name}.md"`,
      });
    }
    if (query.format === "html") {
      return body("text/html; charset=utf-8", Buffer.from(renderHtml(signed), "utf8"), {
        ...common,
        "content-security-policy": CSP_DOCUMENT,
        "content-disposition": `inline; filename="${name}.html"`,
      });
    }
    return body("application/pdf", await renderReviewPdf(signed), {
      ...common,
      "content-disposition": `inline; filename="${name}.pdf"`,
    });
  }
}
