import { setImmediate as turn } from "node:timers/promises";
import { PDFDocument, type PDFFont, type PDFPage, rgb, StandardFonts } from "pdf-lib";
import type { InvoiceView } from "./invoice-view.js";

const PAGE: [number, number] = [595.28, 841.89]; // A4 in points
const MARGIN = 50;
const BLACK = rgb(0, 0, 0);
const GREY = rgb(0.35, 0.35, 0.35);
const RULE = rgb(0.8, 0.8, 0.8);
/** LINES_PER_TURN: how many invoice lines are drawn between two turns of the event loop. */
const LINES_PER_TURN = 8;
/** Column right edges (amounts are right-aligned) and the description column's width. */
const COL = { quantity: 380, unitPrice: 465, total: PAGE[0] - MARGIN, description: 250 };

/**
 * renderInvoicePdf draws an invoice on A4 pages with the standard Helvetica fonts (no font file
 * embedded; text outside their WinAnsi character set is drawn as `?`). The output is a function
 * of the view alone: the document's dates are the invoice's finalization, so rendering an invoice
 * twice gives the same bytes.
 */
export async function renderInvoicePdf(view: InvoiceView): Promise<Uint8Array> {
  const doc = await PDFDocument.create({ updateMetadata: false });
  doc.setTitle(clean(view.title));
  doc.setCreator("Baseplate");
  doc.setProducer("Baseplate");
  doc.setCreationDate(view.creationDate);
  doc.setModificationDate(view.creationDate);
  const regular = await doc.embedFont(StandardFonts.Helvetica);
  const bold = await doc.embedFont(StandardFonts.HelveticaBold);
  const w = new Writer(doc, regular);

  w.text(view.title, MARGIN, 20, bold);
  w.down(26);
  w.text(`Status: ${view.status.toUpperCase()}    Currency: ${view.currency}`, MARGIN, 10, regular, GREY);
  w.down(16);
  for (const line of [`Issued: ${view.issued}`, `Period: ${view.period}`]) {
    w.text(line, MARGIN, 10, regular);
    w.down(14);
  }
  for (const p of view.parties) {
    for (const [i, part] of w.wrap(`${p.label}: ${p.value}`, PAGE[0] - 2 * MARGIN, 10, regular).entries()) {
      w.text(part, MARGIN + (i ? 12 : 0), 10, regular);
      w.down(14);
    }
  }
  w.down(12);

  const header = () => {
    w.text("Description", MARGIN, 10, bold);
    w.right("Quantity", COL.quantity, 10, bold);
    w.right("Unit price", COL.unitPrice, 10, bold);
    w.right("Amount", COL.total, 10, bold);
    w.down(6);
    w.rule(1, BLACK);
    w.down(14);
  };
  header();
  for (const [i, line] of view.lines.entries()) {
    // Drawing is CPU work on the event loop: give other requests a turn every few lines.
    if (i % LINES_PER_TURN === LINES_PER_TURN - 1) await turn();
    const description = w.wrap(line.description, COL.description, 10, regular);
    const details = line.details.flatMap((d) => w.wrap(d, PAGE[0] - 2 * MARGIN - 12, 8, regular));
    if (w.ensure(14 * description.length + 11 * details.length + 10)) header();
    w.right(line.quantity, COL.quantity, 10, regular);
    w.right(line.unitPrice, COL.unitPrice, 10, regular);
    w.right(line.total, COL.total, 10, regular);
    for (const part of description) {
      w.text(part, MARGIN, 10, regular);
      w.down(14);
    }
    for (const part of details) {
      w.text(part, MARGIN + 12, 8, regular, GREY);
      w.down(11);
    }
    w.down(-4);
    w.rule(0.5, RULE);
    w.down(14);
  }
  w.ensure(20 * view.totals.length + 10);
  w.down(6);
  for (const t of view.totals) {
    const font = t.strong ? bold : regular;
    w.right(t.label, COL.unitPrice, 11, font);
    w.right(t.amount, COL.total, 11, font);
    w.down(18);
  }
  return doc.save({ useObjectStreams: false });
}

/** Writer keeps the current page and the vertical position, adding a page when one is full. */
class Writer {
  #page: PDFPage;
  #y = PAGE[1] - MARGIN - 20;
  readonly #allowed: Set<number>;

  constructor(
    private readonly doc: PDFDocument,
    font: PDFFont,
  ) {
    this.#page = doc.addPage(PAGE);
    this.#allowed = new Set(font.getCharacterSet());
  }

  down(points: number): void {
    this.#y -= points;
  }

  /** ensure starts a new page unless `height` points fit; returns whether it did. */
  ensure(height: number): boolean {
    if (this.#y - height >= MARGIN) return false;
    this.#page = this.doc.addPage(PAGE);
    this.#y = PAGE[1] - MARGIN - 20;
    return true;
  }

  text(text: string, x: number, size: number, font: PDFFont, color = BLACK): void {
    this.ensure(size);
    this.#page.drawText(this.#encodable(text), { x, y: this.#y, size, font, color });
  }

  right(text: string, xRight: number, size: number, font: PDFFont): void {
    const t = this.#encodable(text);
    this.#page.drawText(t, { x: xRight - font.widthOfTextAtSize(t, size), y: this.#y, size, font, color: BLACK });
  }

  rule(thickness: number, color: ReturnType<typeof rgb>): void {
    this.#page.drawLine({
      start: { x: MARGIN, y: this.#y },
      end: { x: PAGE[0] - MARGIN, y: this.#y },
      thickness,
      color,
    });
  }

  /** wrap breaks text into lines at most `width` wide: at spaces, or inside a word too long for a line. */
  wrap(text: string, width: number, size: number, font: PDFFont): string[] {
    const fits = (s: string) => font.widthOfTextAtSize(s, size) <= width;
    const out: string[] = [];
    let current = "";
    for (const word of this.#encodable(text).split(" ")) {
      const candidate = current ? `${current} ${word}` : word;
      if (fits(candidate)) {
        current = candidate;
        continue;
      }
      if (current) out.push(current);
      current = "";
      let rest = word;
      while (!fits(rest)) {
        let n = rest.length - 1;
        while (n > 1 && !fits(rest.slice(0, n))) n--;
        out.push(rest.slice(0, n));
        rest = rest.slice(n);
      }
      current = rest;
    }
    out.push(current);
    return out;
  }

  #encodable(text: string): string {
    let out = "";
    for (const ch of clean(text)) out += this.#allowed.has(ch.codePointAt(0) as number) ? ch : "?";
    return out;
  }
}

/** clean turns control characters (line breaks, tabs) into spaces: a PDF text run is one line. */
function clean(text: string): string {
  return text.replace(/[\p{Cc}\u2028\u2029]/gu, " ");
}
