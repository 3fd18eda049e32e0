import { createHash } from "node:crypto";
import { setImmediate as turn } from "node:timers/promises";
import { PDFDocument, type PDFFont, type PDFPage, rgb, StandardFonts } from "pdf-lib";
import { canonicalJson } from "../../platform/canonical-json.js";
import type { ReviewBlock } from "../../platform/review.js";
import { show } from "./render.js";
import type { SignedReview } from "./schemas.js";

const PAGE: [number, number] = [595.28, 841.89]; // A4 in points
const MARGIN = 50;
const WIDTH = PAGE[0] - 2 * MARGIN;
const BLACK = rgb(0, 0, 0);
const GREY = rgb(0.35, 0.35, 0.35);
const GREEN = rgb(0.04, 0.42, 0.17);
const RED = rgb(0.69, 0, 0.13);
const RULE = rgb(0.8, 0.8, 0.8);

/** clean keeps what the standard Helvetica fonts can draw (WinAnsi); anything else becomes `?`. */
function clean(text: string): string {
  return text.replace(/[^\x20-\x7e\xa0-\xff\u2013\u2014\u2018\u2019\u201c\u201d\u2022\u2026\u20ac]/g, "?");
}

/** Pen draws lines of text top to bottom, opening a new page when the current one is full. */
class Pen {
  page: PDFPage;
  y = PAGE[1] - MARGIN;
  constructor(
    private readonly doc: PDFDocument,
    readonly regular: PDFFont,
    readonly bold: PDFFont,
  ) {
    this.page = doc.addPage(PAGE);
  }
  room(height: number): void {
    if (this.y - height < MARGIN) {
      this.page = this.doc.addPage(PAGE);
      this.y = PAGE[1] - MARGIN;
    }
  }
  /** wrap splits text into lines no wider than `width` at `size`. */
  wrap(text: string, size: number, width = WIDTH, font = this.regular): string[] {
    const lines: string[] = [];
    for (const paragraph of clean(text).split("\n")) {
      let line = "";
      for (const word of paragraph.split(" ")) {
        const next = line ? `${line} ${word}` : word;
        if (font.widthOfTextAtSize(next, size) <= width || !line) line = next;
        else {
          lines.push(line);
          line = word;
        }
        // A single word wider than the line (a hash): cut it.
        while (font.widthOfTextAtSize(line, size) > width && line.length > 1) {
          let cut = line.length - 1;
          while (cut > 1 && font.widthOfTextAtSize(line.slice(0, cut), size) > width) cut--;
          lines.push(line.slice(0, cut));
          line = line.slice(cut);
        }
      }
      lines.push(line);
    }
    return lines;
  }
  text(
    text: string,
    size: number,
    options: { font?: PDFFont; color?: ReturnType<typeof rgb>; x?: number; gap?: number } = {},
  ) {
    const font = options.font ?? this.regular;
    const x = options.x ?? MARGIN;
    for (const line of this.wrap(text, size, WIDTH - (x - MARGIN), font)) {
      this.room(size + 3);
      this.page.drawText(line, { x, y: this.y - size, size, font, color: options.color ?? BLACK });
      this.y -= size + 3;
    }
    this.y -= options.gap ?? 4;
  }
  rule(): void {
    this.room(6);
    this.page.drawLine({
      start: { x: MARGIN, y: this.y },
      end: { x: PAGE[0] - MARGIN, y: this.y },
      thickness: 0.5,
      color: RULE,
    });
    this.y -= 6;
  }
  /** fit shortens text to `width` with an ellipsis. */
  fit(text: string, size: number, width: number): string {
    let t = clean(text);
    if (this.regular.widthOfTextAtSize(t, size) <= width) return t;
    while (t.length > 1 && this.regular.widthOfTextAtSize(`${t}…`, size) > width) t = t.slice(0, -1);
    return `${t}…`;
  }
}

function drawBlock(pen: Pen, b: ReviewBlock): void {
  switch (b.kind) {
    case "text":
      pen.text(b.text, 10);
      return;
    case "facts":
      for (const i of b.items) pen.text(`${i.label}: ${show(i.value)}`, 10, { gap: 1 });
      pen.y -= 4;
      return;
    case "check":
      pen.text(`${b.ok ? "PASS" : "FAIL"}  ${b.label}: ${b.detail}`, 10, { font: pen.bold, color: b.ok ? GREEN : RED });
      return;
    case "table": {
      pen.text(b.caption, 9, { color: GREY, gap: 2 });
      const width = WIDTH / Math.max(1, b.columns.length);
      const row = (cells: string[], font: PDFFont) => {
        pen.room(12);
        cells.forEach((c, i) => {
          pen.page.drawText(pen.fit(c, 8, width - 4), {
            x: MARGIN + i * width,
            y: pen.y - 8,
            size: 8,
            font,
            color: BLACK,
          });
        });
        pen.y -= 11;
      };
      row(b.columns, pen.bold);
      pen.rule();
      if (b.rows.length === 0) row(["(none)"], pen.regular);
      for (const r of b.rows) row(r.map(show), pen.regular);
      if (b.more > 0) pen.text(`...and ${b.more} more.`, 8, { color: GREY });
      pen.y -= 6;
      return;
    }
  }
}

/**
 * renderReviewPdf draws the report on A4 pages (standard Helvetica: no font file embedded). Its
 * last section names the signing key and the SHA-256 of the signed report's canonical JSON: the
 * JSON (or the Markdown or HTML report, which hold it) is what `baseplate review verify` checks.
 */
export async function renderReviewPdf(signed: SignedReview): Promise<Uint8Array> {
  const r = signed.report;
  const doc = await PDFDocument.create({ updateMetadata: false });
  const when = new Date(r.generatedAt);
  const heading = r.tenant
    ? `Review of tenant ${r.tenant.name ?? r.tenant.id}`
    : `Review of environment ${r.environment.name ?? r.environment.id}`;
  doc.setTitle(clean(heading));
  doc.setCreator("Baseplate");
  doc.setProducer("Baseplate");
  doc.setCreationDate(when);
  doc.setModificationDate(when);
  const pen = new Pen(
    doc,
    await doc.embedFont(StandardFonts.Helvetica),
    await doc.embedFont(StandardFonts.HelveticaBold),
  );
  pen.text(heading, 20, { font: pen.bold, gap: 8 });
  pen.text(
    `Environment ${r.environment.name ?? "-"} (${r.environment.id})${r.environment.production ? ", production" : ""}`,
    9,
    { color: GREY, gap: 1 },
  );
  pen.text(
    `Generated ${r.generatedAt} by Baseplate ${r.plane.version} on ${r.plane.engine}; period ${r.period.from} to ${r.period.to}.`,
    9,
    { color: GREY, gap: 1 },
  );
  pen.text(
    `Audit chain ${r.audit.chain}: ${r.audit.size} entries; ${r.audit.checkpoint ? `latest signed checkpoint at ${r.audit.checkpoint.size} entries (${r.audit.checkpoint.time})` : "no signed checkpoint yet"}.`,
    9,
    { color: GREY, gap: 10 },
  );
  for (const t of r.topics) {
    pen.room(60);
    pen.text(t.title, 15, { font: pen.bold, gap: 1 });
    pen.text(t.question, 9, { color: GREY, gap: 6 });
    for (const p of t.parts) {
      pen.room(40);
      pen.text(p.title, 11, { font: pen.bold, gap: 3 });
      for (const b of p.blocks) drawBlock(pen, b);
      await turn(); // a long report never holds the event loop for long
    }
  }
  pen.room(120);
  pen.text("Signature", 15, { font: pen.bold, gap: 4 });
  pen.text(`Signing key: ${r.signing.keyId} (Ed25519, the plane's audit signing key).`, 9);
  pen.text(`SHA-256 of the report's canonical JSON: ${createHash("sha256").update(canonicalJson(r)).digest("hex")}`, 9);
  pen.text(`Signature: ${signed.signature}`, 9);
  pen.text(
    "This PDF is for reading. The evidence is the signed JSON (also inside the Markdown and HTML reports): check it with `baseplate review verify`.",
    9,
    { color: GREY },
  );
  return doc.save({ useObjectStreams: false });
}
