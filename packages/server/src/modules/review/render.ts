import { escapeHtml } from "../../platform/http/documents.js";
import type { ReviewBlock } from "../../platform/review.js";
import type { ReviewReport, SignedReview } from "./schemas.js";

type Value = string | number | boolean | null;

/** Markers around the signed JSON inside a Markdown or HTML report (what `baseplate review verify` reads). */
export const MD_OPEN = "```json baseplate-review";
export const HTML_OPEN = '<script type="application/json" id="baseplate-review">';

/** show writes a value of the report for people. */
export function show(v: Value): string {
  if (v === null) return "—";
  if (typeof v === "boolean") return v ? "yes" : "no";
  return String(v);
}

/** signedJson is the signed report as embedded in a document: one line of JSON, `<` escaped. */
export function signedJson(signed: SignedReview): string {
  return JSON.stringify(signed).replace(/</g, "\\u003c");
}

function title(r: ReviewReport): string {
  const who = r.tenant
    ? `tenant ${r.tenant.name ?? r.tenant.id}`
    : `environment ${r.environment.name ?? r.environment.id}`;
  return `Review of ${who}`;
}

function subtitle(r: ReviewReport): string[] {
  return [
    `Environment ${r.environment.name ?? "—"} (${r.environment.id})${r.environment.production ? ", production" : ""}` +
      (r.tenant ? `; tenant ${r.tenant.name ?? "—"} (${r.tenant.id})` : ""),
    `Generated ${r.generatedAt} by Baseplate ${r.plane.version} on ${r.plane.engine}; period ${r.period.from} to ${r.period.to}.`,
    `Audit chain ${r.audit.chain}: ${r.audit.size} entries, head ${r.audit.headHash ?? "—"}; ` +
      (r.audit.checkpoint
        ? `latest signed checkpoint at ${r.audit.checkpoint.size} entries, ${r.audit.checkpoint.time} (${r.audit.checkpoint.checkpointHash}).`
        : "no signed checkpoint yet."),
  ];
}

const mdCell = (v: Value) => show(v).replace(/\|/g, "\\|").replace(/\r?\n/g, " ");

function mdBlock(b: ReviewBlock): string[] {
  switch (b.kind) {
    case "text":
      return [b.text, ""];
    case "facts":
      return [...b.items.map((i) => `- **${i.label}:** ${show(i.value)}`), ""];
    case "check":
      return [`- ${b.ok ? "✅ PASS" : "❌ FAIL"} — **${b.label}:** ${b.detail}`, ""];
    case "table": {
      const out = [
        `*${b.caption}*`,
        "",
        `| ${b.columns.map((c) => mdCell(c)).join(" | ")} |`,
        `|${b.columns.map(() => " --- |").join("")}`,
      ];
      for (const row of b.rows) out.push(`| ${row.map(mdCell).join(" | ")} |`);
      if (b.rows.length === 0) out.push(`| ${b.columns.map((_, i) => (i === 0 ? "(none)" : "")).join(" | ")} |`);
      if (b.more > 0) out.push("", `…and ${b.more} more.`);
      return [...out, ""];
    }
  }
}

/**
 * renderMarkdown writes the report for people, then the signed JSON it was drawn from: the text is
 * a function of the JSON alone, so a verifier re-renders it and compares (an edit to either shows).
 */
export function renderMarkdown(signed: SignedReview): string {
  const r = signed.report;
  const out = [`# ${title(r)}`, "", ...subtitle(r).map((l) => `> ${l}`), ""];
  for (const t of r.topics) {
    out.push(`## ${t.title}`, "", `*${t.question}*`, "");
    for (const p of t.parts) {
      out.push(`### ${p.title}`, "");
      for (const b of p.blocks) out.push(...mdBlock(b));
    }
  }
  out.push(
    "## Signature",
    "",
    `Signed with the plane's audit signing key \`${r.signing.keyId}\` (Ed25519 over the canonical JSON of \`report\` below). ` +
      "Verify with `baseplate review verify <this file>`, or offline against the plane's published keys (`GET /v1/audit/public-keys`).",
    "",
    MD_OPEN,
    signedJson(signed),
    "```",
    "",
  );
  return out.join("\n");
}

const e = escapeHtml;

const STYLE = `
body{font-family:Helvetica,Arial,sans-serif;color:#111;margin:40px auto;max-width:900px;padding:0 16px;line-height:1.45}
h1{font-size:26px;margin:0 0 8px}h2{font-size:20px;margin:32px 0 4px;border-bottom:2px solid #111}h3{font-size:16px;margin:20px 0 6px}
.meta{color:#444;margin:0 0 4px;font-size:13px}.q{color:#555;font-style:italic;margin:0 0 12px}
table{width:100%;border-collapse:collapse;margin:4px 0 12px;font-size:13px}caption{text-align:left;color:#555;padding:0 0 4px}
th,td{text-align:left;padding:5px 6px;vertical-align:top;border-bottom:1px solid #ddd}thead th{border-bottom:2px solid #111}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px;margin:0 0 12px}dt{color:#666}dd{margin:0}
.check{margin:4px 0}.ok{color:#0a6b2b;font-weight:bold}.fail{color:#b00020;font-weight:bold}
code{font-size:12px;word-break:break-all}
`.trim();

function htmlBlock(b: ReviewBlock): string {
  switch (b.kind) {
    case "text":
      return `<p>${e(b.text)}</p>`;
    case "facts":
      return `<dl>${b.items.map((i) => `<dt>${e(i.label)}</dt><dd>${e(show(i.value))}</dd>`).join("")}</dl>`;
    case "check":
      return `<p class="check"><span class="${b.ok ? "ok" : "fail"}">${b.ok ? "PASS" : "FAIL"}</span> <strong>${e(b.label)}:</strong> ${e(b.detail)}</p>`;
    case "table": {
      const head = `<thead><tr>${b.columns.map((c) => `<th scope="col">${e(c)}</th>`).join("")}</tr></thead>`;
      const rows = b.rows.length
        ? b.rows.map((r) => `<tr>${r.map((v) => `<td>${e(show(v))}</td>`).join("")}</tr>`).join("")
        : `<tr><td colspan="${b.columns.length}">(none)</td></tr>`;
      const more = b.more > 0 ? `<p>…and ${b.more} more.</p>` : "";
      return `<table><caption>${e(b.caption)}</caption>${head}<tbody>${rows}</tbody></table>${more}`;
    }
  }
}

/** renderHtml writes the report as a standalone page (every text escaped), with the signed JSON inside. */
export function renderHtml(signed: SignedReview): string {
  const r = signed.report;
  const parts = r.topics
    .map(
      (t) =>
        `<section><h2>${e(t.title)}</h2><p class="q">${e(t.question)}</p>${t.parts
          .map((p) => `<h3>${e(p.title)}</h3>${p.blocks.map(htmlBlock).join("")}`)
          .join("")}</section>`,
    )
    .join("");
  return [
    "<!doctype html>",
    `<html lang="en"><head><meta charset="utf-8"><title>${e(title(r))}</title><style>${STYLE}</style></head><body>`,
    `<h1>${e(title(r))}</h1>${subtitle(r)
      .map((l) => `<p class="meta">${e(l)}</p>`)
      .join("")}`,
    parts,
    `<section><h2>Signature</h2><p>Signed with the plane's audit signing key <code>${e(r.signing.keyId)}</code> (Ed25519 over the canonical JSON of the report embedded in this page). Verify with <code>baseplate review verify &lt;this file&gt;</code>.</p></section>`,
    `${HTML_OPEN}${signedJson(signed)}</script>`,
    "</body></html>",
    "",
  ].join("\n");
}
