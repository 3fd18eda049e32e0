import { createRequire } from "node:module";
import path from "node:path";
import * as pdfjs from "pdfjs-dist/legacy/build/pdf.mjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestClock } from "../../platform/clock.js";
import { escapeHtml } from "../../platform/http/documents.js";
import { type SeededPlane, seedPlane, TEST_PASSWORD } from "../../testing/fixtures.js";
import { createTestApp, describeEachEngine, type TestApp } from "../../testing/harness.js";
import { billingModule } from "./index.js";
import { buildInvoiceView, formatMoney } from "./internal/invoice-view.js";
import { renderInvoiceHtml } from "./internal/render-html.js";
import { renderInvoicePdf } from "./internal/render-pdf.js";
import type { Invoice, InvoiceLine } from "./schemas.js";

type Json = Record<string, unknown>;

// Invoices rendered for people: one view model (amounts by ISO 4217 minor units), an HTML page that
// escapes every text it shows, and a PDF checked by rendering it with another engine (PDF.js):
// its text must hold the number, the lines and the total, and its first page must carry ink where
// the title, the table and the totals are drawn. Then the routes, on both engines.

const HOSTILE = `<script>alert("x")</script> & 'quoted' "double"`;

const STANDARD_FONTS = `${path.join(path.dirname(createRequire(import.meta.url).resolve("pdfjs-dist/package.json")), "standard_fonts")}${path.sep}`;

/** openPdf parses a PDF with PDF.js (another engine than the one that wrote it). */
function openPdf(bytes: Uint8Array) {
  return pdfjs.getDocument({ data: new Uint8Array(bytes), standardFontDataUrl: STANDARD_FONTS, verbosity: 0 }).promise;
}

/** pdfText extracts every page's text with PDF.js, one drawn run per line. */
async function pdfText(bytes: Uint8Array): Promise<{ pages: number; text: string }> {
  const doc = await openPdf(bytes);
  try {
    let text = "";
    for (let i = 1; i <= doc.numPages; i++) {
      const content = await (await doc.getPage(i)).getTextContent();
      for (const item of content.items) if ("str" in item) text += `${item.str}\n`;
    }
    return { pages: doc.numPages, text };
  } finally {
    await doc.destroy();
  }
}

/** inkOfPage renders page 1 at 1 px per point and answers the share of dark pixels in a band of rows. */
async function inkOfPage(
  bytes: Uint8Array,
): Promise<(fromTop: number, toTop: number, fromLeft?: number, toLeft?: number) => number> {
  const doc = await openPdf(bytes);
  try {
    const page = await doc.getPage(1);
    const viewport = page.getViewport({ scale: 1 });
    const factory = doc.canvasFactory as {
      create(
        w: number,
        h: number,
      ): { canvas: unknown; context: { getImageData(...a: number[]): { data: Uint8ClampedArray } } };
    };
    const { canvas, context } = factory.create(viewport.width, viewport.height);
    await page.render({ canvasContext: context, viewport, canvas } as unknown as Parameters<typeof page.render>[0])
      .promise;
    const width = Math.round(viewport.width);
    const rgba = context.getImageData(0, 0, width, Math.round(viewport.height)).data;
    const png = (canvas as { toBuffer(mime: string): Buffer }).toBuffer("image/png");
    expect(png.length).toBeGreaterThan(1000);
    return (fromTop, toTop, fromLeft = 0, toLeft = width) => {
      let dark = 0;
      let all = 0;
      for (let y = fromTop; y < toTop; y++) {
        for (let x = fromLeft; x < toLeft; x++) {
          all++;
          const o = (y * width + x) * 4;
          const grey = 0.299 * (rgba[o] as number) + 0.587 * (rgba[o + 1] as number) + 0.114 * (rgba[o + 2] as number);
          if ((rgba[o + 3] as number) > 0 && grey < 128) dark++;
        }
      }
      return dark / all;
    };
  } finally {
    await doc.destroy();
  }
}

function line(over: Partial<InvoiceLine> = {}): InvoiceLine {
  return {
    type: "charge",
    description: "calls (per-unit)",
    quantity: "150",
    billableQuantity: "50",
    unitPrice: "0.01",
    amount: "0.5",
    total: 50,
    minimumApplied: false,
    tiers: [],
    charge: null,
    usage: {
      meterId: "mtr_1",
      meter: "calls",
      aggregation: "count",
      from: "1970-01-01T00:00:00.000Z",
      to: "1970-01-01T00:01:00.000Z",
      value: "150",
    },
    ...over,
  };
}

function invoice(over: Partial<Invoice> = {}): Invoice {
  const lines = over.lines ?? [
    line({
      type: "fixed_fee",
      description: "Fixed fee (month)",
      quantity: "1",
      billableQuantity: "1",
      unitPrice: "49.00",
      amount: "49",
      total: 4900,
      usage: null,
    }),
    line({
      description: "tokens (graduated)",
      quantity: "1600000",
      billableQuantity: "1600000",
      unitPrice: null,
      amount: "2.9",
      total: 290,
      charge: { model: "graduated", meter: "tokens", meterId: "mtr_2" },
      tiers: [
        { from: "0", upTo: "1000000", units: "1000000", unitPrice: "0.000002", flatFee: "0", amount: "2" },
        { from: "1000000", upTo: null, units: "600000", unitPrice: "0.0000015", flatFee: "0", amount: "0.9" },
      ],
    }),
    line(),
  ];
  const total = lines.reduce((s, l) => s + l.total, 0);
  return {
    id: "inv_1",
    number: "INV-2027-000042",
    status: "finalized",
    subscriptionId: "sub_1",
    tenantId: "ten_1",
    planVersionId: "plv_1",
    currency: "USD",
    periodStart: new Date("2027-01-31T10:00:00Z").toISOString(),
    periodEnd: new Date("2027-02-28T10:00:00Z").toISOString(),
    lines,
    subtotal: total,
    taxRate: "0",
    tax: 0,
    total,
    dueAt: new Date("2027-03-30T10:01:00Z").toISOString(),
    amountPaid: 0,
    amountCredited: 0,
    amountDue: total,
    paidAt: null,
    voidedAt: null,
    finalizedAt: new Date("2027-02-28T10:01:00Z").toISOString(),
    createdAt: new Date("2027-02-28T10:01:00Z").toISOString(),
    ...over,
  };
}

describe("invoice view", () => {
  it("formats amounts by the currency's ISO 4217 exponent, grouped by thousands", () => {
    expect(formatMoney(123456789, "USD")).toBe("USD 1,234,567.89");
    expect(formatMoney(1200, "JPY")).toBe("JPY 1,200");
    expect(formatMoney(1234567, "KWD")).toBe("KWD 1,234.567");
    expect(formatMoney(5, "EUR")).toBe("EUR 0.05");
    expect(formatMoney(-1050, "USD")).toBe("-USD 10.50");
  });

  it("shows every line's quantity, tiers and usage query, and the totals the invoice carries", () => {
    const view = buildInvoiceView(invoice(), { tenantName: "Acme", environmentName: "production" });
    expect(view.lines.map((l) => [l.description, l.quantity, l.unitPrice, l.total])).toEqual([
      ["Fixed fee (month)", "1", "49.00", "USD 49.00"],
      ["tokens (graduated)", "1,600,000", "tiered", "USD 2.90"],
      ["calls (per-unit)", "150", "0.01", "USD 0.50"],
    ]);
    expect(view.lines[1]?.details).toEqual([
      "Tier 0 – 1,000,000: 1,000,000 × 0.000002 = 2 USD",
      "Tier over 1,000,000: 600,000 × 0.0000015 = 0.9 USD",
      "Usage: meter calls (count), 1970-01-01 00:00 UTC – 1970-01-01 00:01 UTC: 150",
    ]);
    expect(view.lines[2]?.details[0]).toBe("Billable: 50");
    expect(view.totals).toEqual([
      { label: "Subtotal", amount: "USD 52.40", strong: false },
      { label: "Total", amount: "USD 52.40", strong: true },
      { label: "Amount due", amount: "USD 52.40", strong: true },
    ]);
    expect(view.parties).toContainEqual({ label: "Billed to", value: "Acme (ten_1)" });
    expect(view.parties).toContainEqual({ label: "Environment", value: "production" });
    expect(view.period).toBe("2027-01-31 10:00 UTC – 2027-02-28 10:00 UTC");
  });

  it("renders the optional amounts (tax, credits, paid, due) when the invoice has them", () => {
    const withMore = { ...invoice(), tax: 524, total: 5764, creditsApplied: -1000, amountPaid: 0, amountDue: 4764 };
    const labels = buildInvoiceView(withMore, { tenantName: null, environmentName: null }).totals.map((t) => t.label);
    expect(labels).toEqual(["Subtotal", "Tax", "Total", "Credits applied", "Amount due"]);
    const paid = { ...withMore, amountPaid: 4764, amountDue: 0, amountCredited: 100 };
    expect(buildInvoiceView(paid, { tenantName: null, environmentName: null }).totals.map((t) => t.label)).toEqual([
      "Subtotal",
      "Tax",
      "Total",
      "Credits applied",
      "Credit notes",
      "Amount paid",
      "Amount due",
    ]);
  });
});

describe("invoice HTML", () => {
  it("escapes every text: descriptions, tenant and environment names", () => {
    const inv = invoice({ lines: [line({ description: HOSTILE })] });
    const html = renderInvoiceHtml(buildInvoiceView(inv, { tenantName: HOSTILE, environmentName: HOSTILE }));
    expect(html).not.toContain("<script");
    expect(html).not.toContain(`"x"`);
    expect(html).not.toContain("'quoted'");
    expect(html).toContain(
      "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;quoted&#39; &quot;double&quot;",
    );
    // The hostile text appears escaped in the line, the tenant and the environment, and nowhere raw.
    expect(html.split(escapeHtml(HOSTILE)).length - 1).toBe(3);
    expect(html).toContain("INV-2027-000042");
  });
});

describe("invoice PDF", () => {
  it("holds the number, every line and the total, with ink where they are drawn (rendered by PDF.js)", async () => {
    const pdf = await renderInvoicePdf(buildInvoiceView(invoice(), { tenantName: "Acme Corp", environmentName: null }));
    expect(Buffer.from(pdf.subarray(0, 5)).toString()).toBe("%PDF-");
    const { pages, text } = await pdfText(pdf);
    expect(pages).toBe(1);
    for (const s of [
      "Invoice INV-2027-000042",
      "Fixed fee (month)",
      "tokens (graduated)",
      "calls (per-unit)",
      "USD 52.40",
      "USD 2.90",
      "Acme Corp (ten_1)",
      "Tier over 1,000,000: 600,000 × 0.0000015 = 0.9 USD",
      "Usage: meter calls (count)",
    ]) {
      expect(text).toContain(s);
    }
    const ink = await inkOfPage(pdf);
    // Title (top band, left), the table (below the header block) and a blank bottom of the page.
    expect(ink(40, 80, 40, 300)).toBeGreaterThan(0.03);
    expect(ink(200, 420)).toBeGreaterThan(0.01);
    expect(ink(760, 842)).toBe(0);
    // The totals are right-aligned: ink in the right column below the lines.
    expect(ink(200, 520, 420, 546)).toBeGreaterThan(0.01);
  });

  it("is a function of the invoice: the same bytes twice", async () => {
    const view = () => buildInvoiceView(invoice(), { tenantName: "Acme", environmentName: "prod" });
    const [a, b] = await Promise.all([renderInvoicePdf(view()), renderInvoicePdf(view())]);
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
  });

  it("gives the event loop turns while it draws a long invoice", async () => {
    const lines = Array.from({ length: 51 }, (_, i) => line({ description: `line ${i}`, total: 1 }));
    let turns = 0;
    let running = true;
    const tick = () => {
      turns++;
      if (running) setImmediate(tick);
    };
    setImmediate(tick);
    const pdf = renderInvoicePdf(buildInvoiceView(invoice({ lines }), { tenantName: null, environmentName: null }));
    const startTurns = turns;
    await pdf;
    running = false;
    expect(startTurns).toBe(0);
    expect(turns).toBeGreaterThanOrEqual(6);
  });

  it("draws text outside the standard fonts' character set as `?`, and breaks many lines onto pages", async () => {
    const lines = Array.from({ length: 80 }, (_, i) =>
      line({ description: `line ${i} 東京 ${"x".repeat(i % 3 === 0 ? 120 : 5)}\nnext`, total: 1 }),
    );
    const pdf = await renderInvoicePdf(
      buildInvoiceView(invoice({ lines }), { tenantName: "Zürich 🚀", environmentName: null }),
    );
    const { pages, text } = await pdfText(pdf);
    expect(pages).toBeGreaterThan(2);
    expect(text).toContain("line 79 ?? ");
    expect(text).toContain("Zürich ?");
    expect(text).toContain("USD 0.80");
  });
});

describeEachEngine("invoice documents over HTTP", (engine) => {
  let t: TestApp;
  let p: SeededPlane;
  const clock = new TestClock(Date.parse("2027-01-31T10:00:00Z"));
  let tenantA: string;
  let tenantB: string;
  let invoiceA: string;
  let invoiceB: string;
  let session: string;
  let member: string;

  async function call(token: string, method: string, url: string, body?: unknown) {
    const res = await t.inject({
      method: method as "GET",
      url,
      headers: { authorization: `Bearer ${token}` },
      ...(body !== undefined ? { payload: body as object } : {}),
    });
    return res;
  }
  const json = async (token: string, method: string, url: string, body?: unknown) => {
    const res = await call(token, method, url, body);
    expect(res.statusCode, res.body).toBeLessThan(300);
    return res.json() as Json;
  };
  const sk = () => p.a.secretKey;

  async function userIn(tenantId: string, email: string, roles: string[]): Promise<string> {
    const user = await json(sk(), "POST", "/v1/users", { email, password: TEST_PASSWORD });
    await json(sk(), "POST", `/v1/tenants/${tenantId}/members`, { userId: user.id, roles });
    const login = await t.inject({
      method: "POST",
      url: "/v1/auth/login",
      payload: { surfaceId: p.a.surfaceId, email, password: TEST_PASSWORD },
    });
    return login.json().token as string;
  }

  beforeAll(async () => {
    t = await createTestApp(engine, { plane: true, clock });
    p = await seedPlane(t);
    tenantA = (await json(sk(), "POST", "/v1/tenants", { name: HOSTILE })).id as string;
    tenantB = (await json(sk(), "POST", "/v1/tenants", { name: "Beta" })).id as string;
    await json(sk(), "POST", "/v1/usage/meters", { key: "calls", eventType: "llm.call", aggregation: "count" });
    await json(sk(), "POST", "/v1/billing/plans", {
      key: "pro",
      name: HOSTILE,
      interval: "month",
      currency: "USD",
      fixedFee: "49.00",
      charges: [{ meter: "calls", model: "per_unit", unitPrice: "0.01", description: HOSTILE }],
    });
    for (const tenantId of [tenantA, tenantB]) {
      await json(sk(), "POST", "/v1/billing/subscriptions", { tenantId, plan: "pro" });
    }
    await json(sk(), "POST", "/v1/usage/events/batch", {
      events: Array.from({ length: 3 }, (_, i) => ({
        id: `c${i}`,
        type: "llm.call",
        subject: tenantA,
        time: new Date(clock.now()).toISOString(),
      })),
    });
    clock.set(Date.parse("2027-02-28T10:01:00Z"));
    await t.app.service(billingModule).subscriptions.advanceDue();
    const list = async (tenantId: string) =>
      ((await json(sk(), "GET", `/v1/billing/invoices?tenantId=${tenantId}`)).data as Json[])[0]?.id as string;
    invoiceA = await list(tenantA);
    invoiceB = await list(tenantB);
    session = await userIn(tenantA, "admin@acme.test", ["admin"]);
    member = await userIn(tenantA, "member@acme.test", ["member"]);
  });
  afterAll(async () => t?.close());

  it("GET …/pdf answers the invoice as a PDF: its number, lines and total", async () => {
    const res = await call(sk(), "GET", `/v1/billing/invoices/${invoiceA}/pdf`);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.headers["content-type"]).toBe("application/pdf");
    expect(res.headers["content-disposition"]).toMatch(/^inline; filename="INV-2027-\d{6}\.pdf"$/);
    expect(res.headers["cache-control"]).toBe("private, no-store");
    const pdf = new Uint8Array(res.rawPayload);
    expect(Number(res.headers["content-length"])).toBe(pdf.length);
    const { text } = await pdfText(pdf);
    const inv = await json(sk(), "GET", `/v1/billing/invoices/${invoiceA}`);
    expect(text).toContain(inv.number as string);
    expect(text).toContain("Fixed fee (month)");
    expect(text).toContain(`<script>alert("x")</script>`); // a PDF shows text as text: nothing runs
    expect(text).toContain("USD 49.03");
    expect(text).toContain("Priced (per-unit): 3 × 0.01 = 0.03 USD");
    expect(text).toMatch(/Usage: meter calls \(count\), 2027-01-31 10:00 UTC – 2027-02-28 10:00 UTC: 3/);
    expect(inv.total).toBe(4903);
    expect((await inkOfPage(pdf))(40, 80, 40, 300)).toBeGreaterThan(0.03);
  });

  it("GET …/html answers a page with every name escaped and a CSP that allows no script", async () => {
    const res = await call(sk(), "GET", `/v1/billing/invoices/${invoiceA}/html`);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.headers["content-type"]).toBe("text/html; charset=utf-8");
    expect(res.headers["content-security-policy"]).toMatch(/^default-src 'none'/);
    expect(res.headers["x-content-type-options"]).toBe("nosniff");
    expect(res.body).not.toContain("<script");
    // The tenant's name and the charge's description, escaped.
    expect(res.body.split(escapeHtml(HOSTILE)).length - 1).toBe(2);
    expect(res.body).toContain("USD 49.03");
    expect(res.body).toContain("Env A");
  });

  it("a member with billing:read reads its tenant's documents on the tenant path; others answer 404", async () => {
    for (const format of ["pdf", "html"]) {
      const own = await call(session, "GET", `/v1/tenants/${tenantA}/billing/invoices/${invoiceA}/${format}`);
      expect(own.statusCode, own.body).toBe(200);
      // B's invoice through A's path, and A's path for B: 404 (existence never leaks).
      const cross = await call(session, "GET", `/v1/tenants/${tenantA}/billing/invoices/${invoiceB}/${format}`);
      expect(cross.statusCode).toBe(404);
      expect(cross.json().code).toBe("invoice_not_found");
      expect(
        (await call(session, "GET", `/v1/tenants/${tenantB}/billing/invoices/${invoiceB}/${format}`)).statusCode,
      ).toBe(404);
      // The other environment's key: 404.
      expect((await call(p.b.secretKey, "GET", `/v1/billing/invoices/${invoiceA}/${format}`)).statusCode).toBe(404);
      // A member without billing:read: refused.
      const refused = await call(member, "GET", `/v1/tenants/${tenantA}/billing/invoices/${invoiceA}/${format}`);
      expect(refused.statusCode).toBe(403);
      // A tenant key reads its own on the keys' path, not another tenant's.
      const key = (
        await json(sk(), "POST", `/v1/tenants/${tenantB}/keys`, { name: `k-${format}`, permissions: ["billing:read"] })
      ).token as string;
      expect((await call(key, "GET", `/v1/billing/invoices/${invoiceB}/${format}`)).statusCode).toBe(200);
      expect((await call(key, "GET", `/v1/billing/invoices/${invoiceA}/${format}`)).statusCode).toBe(404);
    }
  });

  it("an unknown invoice answers problem+json 404", async () => {
    const res = await call(sk(), "GET", "/v1/billing/invoices/inv_nope/pdf");
    expect(res.statusCode).toBe(404);
    expect(res.headers["content-type"]).toMatch(/^application\/problem\+json/);
  });
});
