import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { type PublicKey, verifyReviewText } from "../src/modules/review/index.js";
import { browserRuns, browserTitle, launchBrowser, navigate, screenshot, watchedPage } from "../src/testing/browser.js";
import { type SeededPlane, seedPlane, TEST_PASSWORD } from "../src/testing/fixtures.js";
import { createTestApp, type TestApp } from "../src/testing/harness.js";
import { freePort } from "../src/testing/spawn.js";
import { runDueJobs } from "../src/testing/webhook-receiver.js";

// The console's usage and billing views in a real Chromium: the environment's meters with a chart
// of their usage over time (drawn, and the same figures as a table equal to what the API answers),
// its plans; and on a tenant's page, under support access only, the tenant's limits with their
// use, its usage chart, its open holds, its subscription and its invoices, an invoice's PDF saved
// from the page. Without support access the tenant's figures are not shown (and the plane refuses
// them). Screenshots go to test-results/screenshots/ (git-ignored).
//
// NOTE: SQLite only, like the other console browser tests: the API the views call is covered on
// both engines by the usage, billing and support modules' own tests.

const DAY = 86_400_000;

let t: TestApp;
let p: SeededPlane;
let base: string;
let browser: Browser;
let page: Page;
let tmp: string;
let problems: string[] = [];
const seeded = { tenantId: "", holdId: "", invoiceNumber: "" };

const shot = (name: string) => screenshot(page, name);
const nav = (label: string) => navigate(page, label);

async function api(
  token: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { "content-type": "application/json" } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null };
}

async function ok(res: Promise<{ status: number; json: Record<string, unknown> }>, status: number) {
  const r = await res;
  expect(r.status, JSON.stringify(r.json)).toBe(status);
  return r.json;
}

const rows = (caption: string) =>
  page.locator("table", { has: page.locator("caption", { hasText: caption }) }).locator("tbody tr");

describe.skipIf(!browserRuns)(browserTitle("Console usage and billing views in Chromium"), () => {
  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), "bp-console-billing-"));
    const port = await freePort();
    t = await createTestApp("sqlite", {
      plane: true,
      migrate: false,
      env: { BASEPLATE_HOST: "127.0.0.1", BASEPLATE_PORT: String(port), BASEPLATE_MIGRATE_ON_START: "true" },
    });
    base = (await t.app.start({ workers: false })) as string;
    p = await seedPlane(t);

    // Environment A as a metered product fills it: a token meter by model, a plan charging it,
    // a customer on that plan (on a test clock, so a period has ended and been invoiced), a limit
    // with usage against it and an open hold.
    const sk = p.a.secretKey;
    seeded.tenantId = (await ok(api(sk, "POST", "/v1/tenants", { name: "Umbrella" }), 201)).id as string;
    await ok(
      api(sk, "POST", "/v1/usage/meters", {
        key: "tokens",
        eventType: "llm.tokens",
        aggregation: "sum",
        valuePath: "tokens",
        groupBy: { model: "model" },
        description: "Tokens of every model",
      }),
      201,
    );
    await ok(
      api(sk, "POST", "/v1/billing/plans", {
        key: "scale",
        name: "Scale",
        interval: "month",
        currency: "EUR",
        fixedFee: "30.00",
        charges: [{ meter: "tokens", model: "per_unit", unitPrice: "0.001", description: "Tokens" }],
      }),
      201,
    );
    const start = Date.now() - 34 * DAY;
    const clock = await ok(
      api(sk, "POST", "/v1/billing/test-clocks", { name: "Umbrella run", frozenTime: start }),
      201,
    );
    await ok(api(sk, "POST", `/v1/billing/test-clocks/${clock.id}/tenants`, { tenantId: seeded.tenantId }), 200);
    await ok(api(sk, "POST", "/v1/billing/subscriptions", { tenantId: seeded.tenantId, plan: "scale" }), 201);
    await ok(api(sk, "POST", `/v1/billing/test-clocks/${clock.id}/advance`, { frozenTime: start + 32 * DAY }), 200);
    await runDueJobs(t);
    const invoices = await ok(api(sk, "GET", `/v1/billing/invoices?tenantId=${seeded.tenantId}`), 200);
    const invoice = (invoices.data as Array<{ number: string }>)[0];
    expect(invoice).toBeDefined();
    seeded.invoiceNumber = invoice?.number ?? "";
    await ok(
      api(sk, "POST", `/v1/tenants/${seeded.tenantId}/entitlements`, {
        feature: "ai",
        meter: "tokens",
        limit: 10_000,
        period: "month",
      }),
      200,
    );
    const events = [
      { model: "large", tokens: 1200 },
      { model: "small", tokens: 300 },
      { model: "small", tokens: 500 },
    ].map((data, i) => ({ id: `ev-${i}`, type: "llm.tokens", subject: seeded.tenantId, data }));
    await ok(api(sk, "POST", "/v1/usage/events/batch", { events }), 200);
    const hold = await ok(
      api(sk, "POST", "/v1/usage/holds", { tenantId: seeded.tenantId, feature: "ai", amount: 250, ttlSeconds: 3600 }),
      201,
    );
    seeded.holdId = hold.id as string;

    browser = await launchBrowser();
    ({ page, problems } = await watchedPage(browser, { acceptDownloads: true }));
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await t?.close();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it("charts the environment's usage per meter over time, by dimension, with the API's figures", async () => {
    await page.goto(`${base}/console`);
    await page.getByLabel("Email").fill("admin@example.com");
    await page.getByLabel("Password").fill(TEST_PASSWORD);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("option", { name: "Env A" }).waitFor({ state: "attached" });
    await page.getByLabel("Environment", { exact: true }).selectOption({ label: "Env A" });
    await nav("Usage");
    await page.getByRole("heading", { name: "Usage", exact: true }).waitFor();
    // The chart is drawn (a canvas in the labelled figure) and the totals equal the API's.
    const chart = page.getByRole("img", { name: /Usage of tokens per day, last 30 days in the environment/ });
    await chart.locator("canvas").waitFor();
    await rows("Totals").filter({ hasText: "Total" }).filter({ hasText: "2000" }).waitFor();
    const fromApi = await ok(api(p.a.secretKey, "GET", "/v1/usage/meters/tokens/usage?groupBy=model"), 200);
    expect(fromApi.totals).toEqual([
      { group: { model: "large" }, value: 1200, events: 1 },
      { group: { model: "small" }, value: 800, events: 2 },
    ]);
    await page.getByLabel("Group by").selectOption("model");
    await rows("Totals").filter({ hasText: "model=small" }).filter({ hasText: "800" }).waitFor();
    await rows("Totals").filter({ hasText: "model=large" }).filter({ hasText: "1200" }).waitFor();
    // Two lines, named in the chart's legend.
    await chart.getByText("model=small").waitFor();
    await page.getByLabel("Period").selectOption({ label: "Last 24 hours" });
    await page
      .getByRole("img", { name: /per hour, last 24 hours/ })
      .locator("canvas")
      .waitFor();
    await rows("Totals").filter({ hasText: "model=small" }).waitFor();
    await expect(rows("Meters").filter({ hasText: "tokens" }).textContent()).resolves.toContain("model");
    await shot("40-usage");
  });

  it("lists the environment's plans", async () => {
    await nav("Billing");
    const plan = rows("Plans").filter({ hasText: "Scale" });
    await plan.waitFor();
    await expect(plan.textContent()).resolves.toMatch(/30\.00 EUR/);
    await expect(plan.textContent()).resolves.toContain("Tokens");
    await shot("41-billing-plans");
  });

  it("shows a tenant's limits, usage, holds, subscription and invoices only under support access; saves an invoice PDF", async () => {
    await page.goto(`${base}/console/tenants/${seeded.tenantId}`);
    await page.getByRole("heading", { name: /^Umbrella/ }).waitFor();
    await page.getByRole("heading", { name: "Support access" }).waitFor();
    // Nothing of the tenant's usage or billing before access is granted.
    await expect
      .poll(() => page.getByRole("heading", { name: "Limits and current period" }).count(), { timeout: 10_000 })
      .toBe(0);
    await page.getByLabel("Reason").fill("Ticket 5120: the customer disputes an invoice");
    await page.getByRole("button", { name: "Ask for support access" }).click();
    await page.getByRole("status", { name: "Support access" }).waitFor();

    // A read-only grant: the tenant's sections offer no actions, even to an admin.
    await page.getByRole("heading", { name: "Members" }).waitFor();
    for (const name of ["Invite member", "New tenant key"]) {
      await expect(page.getByRole("button", { name }).count(), name).resolves.toBe(0);
    }
    const limit = rows("Limits").filter({ hasText: "ai" });
    await limit.waitFor();
    await expect(limit.textContent()).resolves.toMatch(/2000 \/ 10000/);
    await expect(limit.locator("meter").getAttribute("value")).resolves.toBe("2000");
    await expect(limit.textContent()).resolves.toContain("250");
    await rows("Holds").filter({ hasText: "ai" }).filter({ hasText: "open" }).waitFor();
    await page
      .getByRole("img", { name: /Usage of tokens per day, last 30 days for this tenant/ })
      .locator("canvas")
      .waitFor();
    await rows("Subscriptions").filter({ hasText: "active" }).waitFor();
    const invoice = rows("Invoices").filter({ hasText: seeded.invoiceNumber });
    await invoice.waitFor();
    await expect(invoice.textContent()).resolves.toContain("€30.00");
    await shot("42-tenant-billing");

    await invoice.getByRole("button", { name: "PDF" }).click();
    const save = invoice.getByRole("link", { name: "Save PDF" });
    const [download] = await Promise.all([page.waitForEvent("download"), save.click()]);
    expect(download.suggestedFilename()).toMatch(/^invoice-.*\.pdf$/);
    const file = join(tmp, download.suggestedFilename());
    await download.saveAs(file);
    const pdf = readFileSync(file);
    expect(pdf.subarray(0, 5).toString()).toBe("%PDF-");
    expect(pdf.length).toBeGreaterThan(1000);

    // Ending the access hides the tenant's figures again.
    await page.getByRole("button", { name: "End support access now" }).click();
    await page.getByRole("heading", { name: "Limits and current period" }).waitFor({ state: "detached" });
  });

  it("generates the signed review report, shows it, and saves it as Markdown that verifies", async () => {
    await nav("Review report");
    await page.getByLabel("Period").selectOption("30");
    await page.getByRole("button", { name: "Generate report" }).click();
    await page.getByRole("heading", { name: "This report" }).waitFor();
    for (const topic of ["Access", "Data scoping", "Events and webhooks", "Usage and billing", "Audit", "Operations"]) {
      await page.getByRole("heading", { name: topic, exact: true }).waitFor();
    }
    // The figures are the API's: the meter and plan created above, the self-test passed.
    await rows("Meters").filter({ hasText: "tokens" }).waitFor();
    await rows("Plans").filter({ hasText: "scale" }).waitFor();
    await page.getByText("Cross-tenant probe suite:").waitFor();
    await expect(page.locator(".badge-bad").count()).resolves.toBe(0);
    await shot("50-review");

    await page.getByRole("button", { name: "Markdown" }).click();
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.getByRole("link", { name: "Save Markdown" }).click(),
    ]);
    const file = join(tmp, "review.md");
    await download.saveAs(file);
    const keys = (await api(p.a.secretKey, "GET", "/v1/audit/public-keys")).json as { keys: PublicKey[] };
    expect(verifyReviewText(readFileSync(file, "utf8"), keys.keys)).toMatchObject({ ok: true, format: "markdown" });
  });

  it("exports the configuration as baseplate.yaml, plans an edited manifest by risk and applies it", async () => {
    await nav("Configuration");
    await page.getByRole("button", { name: "Export the configuration" }).click();
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.getByRole("link", { name: "Save baseplate.yaml" }).click(),
    ]);
    const file = join(tmp, "baseplate.yaml");
    await download.saveAs(file);
    const exported = parseYaml(readFileSync(file, "utf8")) as { version: number; meters: Array<{ key: string }> };
    expect(exported.version).toBe(1);
    expect(exported.meters.map((m) => m.key)).toEqual(["tokens"]);

    const yaml = readFileSync(file, "utf8");
    expect(yaml).toContain("\nroles: []\n");
    const edited = yaml.replace(
      "\nroles: []\n",
      '\nroles:\n  - { key: auditor, name: Auditor, permissions: ["audit:read"] }\n',
    );
    await page.getByLabel("Manifest (YAML)").fill(edited);
    await page.getByRole("button", { name: "Plan", exact: true }).click();
    const change = rows("Changes").filter({ hasText: "roles/auditor" });
    await change.waitFor();
    await expect(change.textContent()).resolves.toContain("additive");
    await page.evaluate("window.scrollTo(0, 0)");
    await shot("51-configuration-plan");
    await page.getByRole("button", { name: "Apply 1 change(s)" }).click();
    await page.getByRole("status").filter({ hasText: "Applied 1 change(s)" }).waitFor();
    await page.getByText("No changes: the environment matches the manifest.").waitFor();
    const role = await api(p.a.secretKey, "GET", "/v1/roles/auditor");
    expect(role.json).toMatchObject({ permissions: ["audit:read"] });

    // A file that is not a manifest is refused here, before the plane is asked.
    await page.getByLabel("Manifest (YAML)").fill("roles: []");
    await page.getByRole("button", { name: "Plan", exact: true }).click();
    await page.getByRole("alert").filter({ hasText: "version: 1" }).waitFor();
  });

  it("met no CSP violation and no console error", () => {
    expect(problems).toEqual([]);
  });
});
