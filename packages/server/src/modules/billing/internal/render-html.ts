import { escapeHtml } from "../../../platform/http/documents.js";
import type { InvoiceView } from "./invoice-view.js";

const STYLE = `
body{font-family:Helvetica,Arial,sans-serif;color:#111;margin:40px auto;max-width:860px;padding:0 16px}
h1{font-size:24px;margin:0 0 4px}
.meta{color:#444;margin:0 0 24px}
dl{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;margin:0 0 24px}
dt{color:#666}dd{margin:0}
table{width:100%;border-collapse:collapse}
th,td{text-align:left;padding:8px 6px;vertical-align:top}
thead th{border-bottom:2px solid #111;font-size:13px}
tbody td{border-bottom:1px solid #ddd}
.num{text-align:right;white-space:nowrap}
.details{margin:4px 0 0;padding:0;list-style:none;color:#555;font-size:12px}
.totals{margin:16px 0 0 auto;width:auto}
.totals td{border:0;padding:4px 6px}
.strong td{font-weight:bold;border-top:1px solid #111}
.status{display:inline-block;border:1px solid #888;border-radius:4px;padding:0 6px;font-size:12px;text-transform:uppercase}
`.trim();

/** renderInvoiceHtml writes an invoice as a standalone HTML page (UTF-8; every text escaped). */
export function renderInvoiceHtml(view: InvoiceView): string {
  const e = escapeHtml;
  const lines = view.lines
    .map((line) => {
      const details = line.details.length
        ? `<ul class="details">${line.details.map((d) => `<li>${e(d)}</li>`).join("")}</ul>`
        : "";
      return `<tr><td>${e(line.description)}${details}</td><td class="num">${e(line.quantity)}</td><td class="num">${e(line.unitPrice)}</td><td class="num">${e(line.total)}</td></tr>`;
    })
    .join("\n");
  const totals = view.totals
    .map(
      (t) => `<tr${t.strong ? ' class="strong"' : ""}><td>${e(t.label)}</td><td class="num">${e(t.amount)}</td></tr>`,
    )
    .join("\n");
  const parties = view.parties.map((p) => `<dt>${e(p.label)}</dt><dd>${e(p.value)}</dd>`).join("");
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${e(view.title)}</title>
<style>${STYLE}</style>
</head>
<body>
<h1>${e(view.title)} <span class="status">${e(view.status)}</span></h1>
<p class="meta">Issued ${e(view.issued)} · Period ${e(view.period)} · Currency ${e(view.currency)}</p>
<dl>${parties}</dl>
<table>
<thead><tr><th>Description</th><th class="num">Quantity</th><th class="num">Unit price</th><th class="num">Amount</th></tr></thead>
<tbody>
${lines}
</tbody>
</table>
<table class="totals">
${totals}
</table>
</body>
</html>
`;
}
