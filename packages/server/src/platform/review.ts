import type { ActionContext } from "./principal.js";

/**
 * The review seam (DESIGN.md §2, "A report from the live plane"): every module that holds
 * something a reviewer asks about contributes a part of the review report, computed from its own
 * tables at report time. The review module knows no module: it gathers the parts by topic, signs
 * the document and renders it (Markdown, HTML, PDF) from a small block model, so a module never
 * formats anything.
 */

/** ReviewTopic is one question of a review, in the order the report answers them. */
export type ReviewTopic = "access" | "dataScoping" | "events" | "usageBilling" | "audit" | "operations";

export const REVIEW_TOPICS: ReadonlyArray<{ topic: ReviewTopic; title: string; question: string }> = [
  { topic: "access", title: "Access", question: "Who can do what, with which credentials?" },
  { topic: "dataScoping", title: "Data scoping", question: "How is each customer's data kept apart?" },
  { topic: "events", title: "Events and webhooks", question: "What is sent where, signed how, and does it arrive?" },
  {
    topic: "usageBilling",
    title: "Usage and billing",
    question: "What is measured, and how does it become an invoice?",
  },
  { topic: "audit", title: "Audit", question: "Can what happened be proven, and verified offline?" },
  {
    topic: "operations",
    title: "Operations",
    question: "How is the plane run: lifecycle, support, backups, versions?",
  },
];

export type ReviewValue = string | number | boolean | null;

/** ReviewBlock is one piece of a part: prose, labelled facts, a table, or a check with its outcome. */
export type ReviewBlock =
  | { kind: "text"; text: string }
  | { kind: "facts"; items: Array<{ label: string; value: ReviewValue }> }
  | {
      kind: "table";
      caption: string;
      columns: string[];
      rows: ReviewValue[][];
      /** more counts the rows left out (a table shows at most `REVIEW_TABLE_ROWS`). */
      more: number;
    }
  | { kind: "check"; label: string; ok: boolean; detail: string };

/** REVIEW_TABLE_ROWS bounds each table of the report (the rest is counted in `more`). */
export const REVIEW_TABLE_ROWS = 50;

/** ReviewScope is what a report covers: an environment, or one tenant of it, over a period ending now. */
export interface ReviewScope {
  environmentId: string;
  /** tenantId: the tenant-scoped variant (what a customer's security reviewer is given). */
  tenantId: string | null;
  /** since: the start of the period the report's "in the period" figures cover (epoch ms). */
  since: number;
  /** now: the report's time (epoch ms): every figure is as of then. */
  now: number;
}

/** ReviewPart is one module's contribution to one topic. */
export interface ReviewPart {
  title: string;
  blocks: ReviewBlock[];
  /**
   * figures are the part's numbers and states by name (`tenantKeys.active`), the same as the API
   * answers: tests compare them, and a reader's tooling can too.
   */
  figures: Record<string, ReviewValue>;
}

/** ReviewContributor is how a module contributes (declared by `review` in its module definition). */
export interface ReviewContributor {
  /** name names the part, unique across the plane (`access.keys`). */
  name: string;
  topic: ReviewTopic;
  /**
   * collect computes the part for `scope` (null: nothing to say there). `ctx` is the caller's, who
   * was allowed `review:read`; a contributor reads its tables directly, scoped by `scope`.
   */
  collect(scope: ReviewScope, ctx: ActionContext): Promise<ReviewPart | null>;
}

/** ReviewRegistry collects the modules' contributors, in module dependency order. */
export class ReviewRegistry {
  readonly #contributors: ReviewContributor[] = [];

  register(module: string, contributors: readonly ReviewContributor[]): void {
    for (const c of contributors) {
      if (this.#contributors.some((x) => x.name === c.name)) {
        throw new Error(`Review part "${c.name}" is declared twice (again by ${module})`);
      }
      this.#contributors.push(c);
    }
  }

  contributors(): readonly ReviewContributor[] {
    return this.#contributors;
  }
}

/** table builds a table block, keeping the first `REVIEW_TABLE_ROWS` rows and counting the rest. */
export function reviewTable(caption: string, columns: string[], rows: ReviewValue[][]): ReviewBlock {
  return {
    kind: "table",
    caption,
    columns,
    rows: rows.slice(0, REVIEW_TABLE_ROWS),
    more: Math.max(0, rows.length - REVIEW_TABLE_ROWS),
  };
}

/** reviewDate writes epoch milliseconds as an ISO 8601 date-time (null stays null). */
export function reviewDate(ms: number | null | undefined): string | null {
  return ms === null || ms === undefined ? null : new Date(Number(ms)).toISOString();
}

/** ageDays is how many whole days before `now` a time was. */
export function ageDays(now: number, ms: number): number {
  return Math.floor((now - Number(ms)) / 86_400_000);
}
