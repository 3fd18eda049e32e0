import { join } from "node:path";
import { sql } from "kysely";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConsoleAssets } from "../src/platform/http/console.js";
import { browserRuns, browserTitle, launchBrowser, SHOTS, watchedPage } from "../src/testing/browser.js";
import { type SeededPlane, seedPlane } from "../src/testing/fixtures.js";
import { createTestApp, type TestApp } from "../src/testing/harness.js";
import { freePort } from "../src/testing/spawn.js";

// The tenant portal end to end in a real Chromium (as test/console-browser.test.ts): a product's
// backend mints a link with its secret key; the admin opens it, the page exchanges the token (and
// takes it out of the address bar), shows the tenant's own webhook endpoints, creates one (its
// secret shown once) and never shows another tenant's. A link that expired shows the expired screen
// with no way in. The page is watched for CSP violations and errors.
//
// NOTE: SQLite only, like the other browser tests (the API is covered on both engines by
// modules/portal/portal.test.ts).

type Json = Record<string, unknown>;

let t: TestApp;
let p: SeededPlane;
let base: string;
let browser: Browser;
const problems: string[] = [];

async function api(method: string, url: string, body?: unknown): Promise<Json> {
  const res = await fetch(`${base}${url}`, {
    method,
    headers: { authorization: `Bearer ${p.a.secretKey}`, "content-type": "application/json" },
    body: JSON.stringify(body ?? {}),
  });
  const json = (await res.json()) as Json;
  if (res.status >= 300) throw new Error(`${method} ${url}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

async function newPage(): Promise<Page> {
  // The refused exchange of an expired link (401) is a step of this test.
  const watched = await watchedPage(browser, {
    problems,
    ignore: (text, url) => /status of 401/.test(text) && new URL(url).pathname === "/v1/portal/sessions",
  });
  return watched.page;
}

describe.skipIf(!browserRuns)(browserTitle("Tenant portal in Chromium"), () => {
  let acme: string;
  let globexId: string;
  let globexUrl: string;

  beforeAll(async () => {
    const port = await freePort();
    t = await createTestApp("sqlite", {
      plane: true,
      migrate: false,
      env: { BASEPLATE_HOST: "127.0.0.1", BASEPLATE_PORT: String(port), BASEPLATE_MIGRATE_ON_START: "true" },
    });
    base = (await t.app.start({ workers: false })) as string;
    p = await seedPlane(t);
    acme = (await api("POST", "/v1/tenants", { name: "Acme Corp" })).id as string;
    const globex = (await api("POST", "/v1/tenants", { name: "Globex" })).id as string;
    globexId = globex;
    await api("POST", "/v1/webhooks/endpoints", { url: "https://hooks.acme.example/first", tenantId: acme });
    globexUrl = "https://hooks.globex.example/secret-endpoint";
    await api("POST", "/v1/webhooks/endpoints", { url: globexUrl, tenantId: globex });
    await api("PUT", `/v1/surfaces/${p.a.surfaceId}/portal-theme`, {
      name: "Acme Suite",
      primaryColor: "#7a1fa2",
      accentColor: "#2d0a3d",
    });
    browser = await launchBrowser();
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  it("opens a minted link: the token leaves the address bar, the tenant's endpoints show, another tenant's never", async () => {
    const link = await api("POST", `/v1/tenants/${acme}/portal-links`, {
      actor: { email: "jane@acme.example", name: "Jane Admin" },
      returnUrl: "https://app.acme.example/settings",
    });
    const page = await newPage();
    const res = await page.goto(link.url as string);
    expect(res?.headers()["content-security-policy"]).toBe(ConsoleAssets.portalCsp);
    await page.getByRole("heading", { name: "Webhooks" }).waitFor();
    expect(page.url()).toBe(`${base}/portal`);
    expect(await page.evaluate("location.hash")).toBe("");
    await expect(page.getByText("Acme Corp").first().isVisible()).resolves.toBe(true);
    await expect(page.getByText("Acme Suite").first().isVisible()).resolves.toBe(true);
    // The theme's colour reached the stylesheet's variables.
    expect(await page.evaluate("getComputedStyle(document.documentElement).getPropertyValue('--accent').trim()")).toBe(
      "#7a1fa2",
    );
    await expect(page.getByText("https://hooks.acme.example/first").isVisible()).resolves.toBe(true);
    expect(await page.getByText(globexUrl).count()).toBe(0);
    await page.screenshot({ path: join(SHOTS, "portal-01-webhooks.png"), fullPage: true });

    // Create an endpoint with the keyboard: its secret is shown once.
    await page.getByRole("button", { name: "Add endpoint" }).click();
    const dialog = page.getByRole("dialog", { name: "Add a webhook endpoint" });
    await dialog.getByLabel("URL").fill("https://hooks.acme.example/second");
    await dialog.getByLabel("URL").press("Enter");
    await page.getByText("copy it now, it is not shown again").waitFor();
    await expect(
      page
        .getByText(/whsec_/)
        .first()
        .isVisible(),
    ).resolves.toBe(true);
    await page.getByRole("cell", { name: "https://hooks.acme.example/second" }).waitFor();
    expect(await page.getByText(globexUrl).count()).toBe(0);
    await page.screenshot({ path: join(SHOTS, "portal-02-created.png"), fullPage: true });

    // The other sections answer for this tenant only.
    await page.getByRole("navigation", { name: "Portal sections" }).getByRole("link", { name: "Audit log" }).click();
    await page.getByRole("heading", { name: "Audit log" }).waitFor();
    await page.getByText("webhook_endpoint.created").first().waitFor();
    await expect(page.getByText("Portal: Jane Admin <jane@acme.example>").first().isVisible()).resolves.toBe(true);
    await page.screenshot({ path: join(SHOTS, "portal-03-audit.png"), fullPage: true });
    for (const label of ["API keys", "Members", "Usage", "Billing"]) {
      // Keyboard: the section links are reachable and open with Enter; focus moves to the heading.
      await page.getByRole("navigation", { name: "Portal sections" }).getByRole("link", { name: label }).focus();
      await page.keyboard.press("Enter");
      await page.getByRole("heading", { name: label, level: 1 }).waitFor();
      expect(await page.getByRole("alert").count(), `${label} shows no problem`).toBe(0);
      await page.screenshot({
        path: join(SHOTS, `portal-04-${label.toLowerCase().replace(" ", "-")}.png`),
        fullPage: true,
      });
    }

    // Signing out ends the session: the screen links back to the product.
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByRole("heading", { name: "You left the portal" }).waitFor();
    expect(await page.getByRole("link", { name: "Return to the product" }).getAttribute("href")).toBe(
      "https://app.acme.example/settings",
    );
    // The link was spent: opening it again shows the expired screen.
    await page.goto(link.url as string);
    await page.getByRole("heading", { name: "This portal link has expired" }).waitFor();
    expect(problems).toEqual([]);
  });

  it("shows an operator's support request to the tenant's admin, who requires approval, approves it and ends it", async () => {
    const asOperator = async (method: string, url: string, body?: unknown) => {
      const res = await fetch(`${base}${url}`, {
        method,
        headers: {
          authorization: `Bearer ${p.operatorToken}`,
          "baseplate-environment": p.a.id,
          ...(body === undefined ? {} : { "content-type": "application/json" }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      return { status: res.status, json: (await res.json()) as Json };
    };
    const link = await api("POST", `/v1/tenants/${acme}/portal-links`, {
      actor: { email: "jane@acme.example", name: "Jane Admin" },
    });
    const page = await newPage();
    await page.goto(link.url as string);
    const sections = page.getByRole("navigation", { name: "Portal sections" });
    await sections.getByRole("link", { name: "Support access" }).click();
    await page.getByRole("heading", { name: "Support access", level: 1 }).waitFor();
    await page.getByText("Nobody has asked for access yet.").waitFor();
    await page.getByLabel(/Require our approval/).click();
    await page.getByText("Requests wait here until you approve them.").waitFor();

    const asked = await asOperator("POST", "/v1/support-access", {
      tenantId: acme,
      reason: "Ticket 4711: webhook deliveries failing",
    });
    expect(asked.status, JSON.stringify(asked.json)).toBe(201);
    expect(asked.json.status).toBe("pending");
    expect((await asOperator("GET", `/v1/tenants/${acme}/members`)).status).toBe(403);

    await sections.getByRole("link", { name: "Audit log" }).click();
    await page.getByRole("heading", { name: "Audit log", level: 1 }).waitFor();
    await sections.getByRole("link", { name: "Support access" }).click();
    await page.getByRole("cell", { name: "Ticket 4711: webhook deliveries failing" }).waitFor();
    await page.getByRole("button", { name: "Approve admin@example.com's request" }).click();
    await page.getByRole("button", { name: "End admin@example.com's access" }).waitFor();
    await page.screenshot({ path: join(SHOTS, "portal-05-support-access.png"), fullPage: true });
    expect((await asOperator("GET", `/v1/tenants/${acme}/members`)).status).toBe(200);
    const grant = await asOperator("GET", `/v1/support-access/${asked.json.id}`);
    expect(grant.json).toMatchObject({ status: "active", decidedBy: expect.any(String) });

    await page.getByRole("button", { name: "End admin@example.com's access" }).click();
    await page.getByRole("cell", { name: "ended" }).waitFor();
    expect((await asOperator("GET", `/v1/tenants/${acme}/members`)).status).toBe(403);
    expect(problems).toEqual([]);
  });

  it("gives the tenant's admin the organisation's own signed security review", async () => {
    const link = await api("POST", `/v1/tenants/${acme}/portal-links`, { features: ["review"] });
    const page = await newPage();
    await page.goto(link.url as string);
    const sections = page.getByRole("navigation", { name: "Portal sections" });
    await sections.getByRole("link", { name: "Security review" }).click();
    await page.getByRole("heading", { name: "Security review", level: 1 }).waitFor();
    await page.getByRole("button", { name: "Generate report" }).click();
    await page.getByRole("heading", { name: "This report" }).waitFor();
    await page.getByText("Acme Corp", { exact: true }).first().waitFor();
    await page.getByRole("heading", { name: "Data scoping", exact: true }).waitFor();
    const text = (await page.locator("main").textContent()) ?? "";
    expect(text).not.toContain(globexId);
    expect(text).not.toContain(globexUrl);
    await page.screenshot({ path: join(SHOTS, "portal-06-security-review.png"), fullPage: true });
    // Only the review section was opened: the session reads nothing else of the tenant.
    await expect(sections.getByRole("link", { name: "Members" }).count()).resolves.toBe(0);
    expect(problems).toEqual([]);
  });

  it("shows the expired screen for a link past its time", async () => {
    const link = await api("POST", `/v1/tenants/${acme}/portal-links`, { expiresInSeconds: 60 });
    // Spend the minute without waiting: the plane's clock is real here, so expire the row itself.
    await sql`update portal_link set expires_at = ${Date.now() - 1} where id = ${link.id as string}`.execute(
      t.app.db.kysely,
    );
    const page = await newPage();
    await page.goto(link.url as string);
    await page.getByRole("heading", { name: "This portal link has expired" }).waitFor();
    expect(await page.getByText(/expired: ask the product for a new one/).count()).toBe(1);
    expect(await page.evaluate("location.hash")).toBe("");
    await page.screenshot({ path: join(SHOTS, "portal-05-expired.png"), fullPage: true });
    expect(problems).toEqual([]);
  });
});
