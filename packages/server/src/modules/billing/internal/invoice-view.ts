import type { Invoice } from "../schemas.js";
import { formatMinor } from "./money.js";

/**
 * The view model of a rendered invoice: every string the HTML and PDF documents show, formatted
 * once here from the Invoice (amounts from minor units by the currency's ISO 4217 exponent, times
 * in UTC). Both renderers draw only this, so a field the Invoice gains is added here once. The
 * strings are plain text: each renderer escapes or encodes them for its format.
 */
export interface InvoiceView {
  title: string;
  number: string;
  status: string;
  currency: string;
  issued: string;
  period: string;
  /** parties: labelled facts shown under the title (tenant, environment, subscription). */
  parties: Array<{ label: string; value: string }>;
  lines: LineView[];
  /** totals: subtotal, then the optional rows present on the invoice, then the total and after. */
  totals: Array<{ label: string; amount: string; strong: boolean }>;
  /** creationDate: the document's date (its finalization), so a render is reproducible. */
  creationDate: Date;
}

export interface LineView {
  description: string;
  quantity: string;
  unitPrice: string;
  total: string;
  /** details: smaller lines under the line: billable quantity, minimum, tiers, the usage query. */
  details: string[];
}

/** Names the invoice row does not carry, looked up by the caller (null when unknown). */
export interface InvoiceNames {
  tenantName: string | null;
  environmentName: string | null;
}

/**
 * TOTAL_ROWS: the amounts shown under the lines, in order, when the invoice carries them as
 * integer minor units. Fields other parts of billing add (tax, credits, payments) go here.
 */
const TOTAL_ROWS: ReadonlyArray<{ field: string; label: string; strong?: boolean; ifNonZero?: boolean }> = [
  { field: "subtotal", label: "Subtotal" },
  { field: "tax", label: "Tax", ifNonZero: true },
  { field: "total", label: "Total", strong: true },
  { field: "creditsApplied", label: "Credits applied", ifNonZero: true },
  { field: "amountCredited", label: "Credit notes", ifNonZero: true },
  { field: "amountPaid", label: "Amount paid", ifNonZero: true },
  { field: "amountDue", label: "Amount due", strong: true },
];

/** buildInvoiceView formats an invoice for rendering. */
export function buildInvoiceView(invoice: Invoice, names: InvoiceNames): InvoiceView {
  const money = (minor: number) => formatMoney(minor, invoice.currency);
  const fields = invoice as unknown as Record<string, unknown>;
  const parties = [
    { label: "Billed to", value: names.tenantName ? `${names.tenantName} (${invoice.tenantId})` : invoice.tenantId },
    ...(names.environmentName ? [{ label: "Environment", value: names.environmentName }] : []),
    { label: "Subscription", value: invoice.subscriptionId },
    ...(typeof fields.dueAt === "string" ? [{ label: "Due", value: formatTime(fields.dueAt) }] : []),
    ...(typeof fields.taxRate === "string" && fields.taxRate !== "0"
      ? [{ label: "Tax rate", value: `${fields.taxRate} %` }]
      : []),
  ];
  return {
    title: `Invoice ${invoice.number}`,
    number: invoice.number,
    status: invoice.status,
    currency: invoice.currency,
    issued: formatTime(invoice.finalizedAt),
    period: `${formatTime(invoice.periodStart)} – ${formatTime(invoice.periodEnd)}`,
    parties,
    lines: invoice.lines.map((line) => {
      const details: string[] = [];
      if (line.billableQuantity !== line.quantity) details.push(`Billable: ${formatQuantity(line.billableQuantity)}`);
      const tiered = line.charge?.model === "graduated" || line.charge?.model === "volume";
      for (const t of line.tiers) {
        const range =
          t.upTo === null ? `over ${formatQuantity(t.from)}` : `${formatQuantity(t.from)} – ${formatQuantity(t.upTo)}`;
        const flat = t.flatFee && t.flatFee !== "0" ? ` + ${t.flatFee} flat` : "";
        const label = tiered ? `Tier ${range}` : `Priced (${line.charge?.model.replace("_", "-") ?? "charge"})`;
        details.push(`${label}: ${formatQuantity(t.units)} × ${t.unitPrice}${flat} = ${t.amount} ${invoice.currency}`);
      }
      if (line.minimumApplied) details.push(`Minimum applied (computed: ${line.amount} ${invoice.currency})`);
      if (line.usage) {
        const u = line.usage;
        details.push(
          `Usage: meter ${u.meter} (${u.aggregation}), ${formatTime(u.from)} – ${formatTime(u.to)}: ${formatQuantity(u.value)}`,
        );
      }
      return {
        description: line.description,
        quantity: formatQuantity(line.quantity),
        unitPrice: line.unitPrice === null ? (line.tiers.length > 0 ? "tiered" : "") : line.unitPrice,
        total: money(line.total),
        details,
      };
    }),
    totals: TOTAL_ROWS.filter(
      (row) => typeof fields[row.field] === "number" && !(row.ifNonZero && fields[row.field] === 0),
    ).map((row) => ({
      label: row.label,
      amount: money(fields[row.field] as number),
      strong: row.strong ?? false,
    })),
    creationDate: new Date(invoice.finalizedAt),
  };
}

/** formatMoney writes minor units in major units with the currency code: `USD 1,234.56`, `JPY 1,200`. */
export function formatMoney(minor: number, currency: string): string {
  const plain = formatMinor(Math.abs(minor), currency);
  return `${minor < 0 ? "-" : ""}${currency} ${group(plain)}`;
}

/** formatQuantity groups a decimal string's integer digits by thousands: `1600000.5` → `1,600,000.5`. */
export function formatQuantity(decimal: string): string {
  return /^-?\d+(\.\d+)?$/.test(decimal) ? group(decimal) : decimal;
}

function group(decimal: string): string {
  const [int = "", frac] = decimal.split(".");
  const grouped = int.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return frac === undefined ? grouped : `${grouped}.${frac}`;
}

/** formatTime writes an ISO 8601 date-time (or epoch milliseconds) as `2027-01-31 10:00 UTC`. */
export function formatTime(time: string | number): string {
  const iso = new Date(typeof time === "string" ? Date.parse(time) : time).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;
}
