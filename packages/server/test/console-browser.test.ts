import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConsoleAssets } from "../src/platform/http/console.js";
import { browserRuns, browserTitle, launchBrowser, navigate, screenshot, watchedPage } from "../src/testing/browser.js";
import { seedPlane, TEST_PASSWORD } from "../src/testing/fixtures.js";
import { createTestApp, type TestApp } from "../src/testing/harness.js";
import { freePort } from "../src/testing/spawn.js";

// The operator console end to end in a real Chromium (Debian package `chromium`, driven over CDP):
// a real plane on a port, an operator signing in through the UI, every view walked, the CSP header
// checked and the page watched for CSP violations and console errors. One screenshot per view goes
// to test-results/screenshots/ (git-ignored). What runs in the page is written as source text (the
// server's TypeScript has no DOM types).
//
// NOTE: SQLite only. The console is engine-independent; the API it calls is covered on both engines
// by the modules' own tests. Off CI, a missing Chromium or an unbuilt console skips with the reason
// in the suite's name; on CI (CI=true) either one fails.

let t: TestApp;
let base: string;
let browser: Browser;
let page: Page;
let problems: string[] = [];

const shot = (name: string) => screenshot(page, name);

/** focused: what has the keyboard focus (tag and text). */
async function focused(): Promise<string> {
  return page.evaluate<string>('document.activeElement?.tagName + " " + document.activeElement?.textContent');
}

const nav = (label: string) => navigate(page, label);

async function signIn(email: string, password: string): Promise<void> {
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
}

describe.skipIf(!browserRuns)(browserTitle("Operator console in Chromium"), () => {
  beforeAll(async () => {
    const port = await freePort();
    t = await createTestApp("sqlite", {
      plane: true,
      migrate: false,
      env: { BASEPLATE_HOST: "127.0.0.1", BASEPLATE_PORT: String(port), BASEPLATE_MIGRATE_ON_START: "true" },
    });
    base = (await t.app.start({ workers: false })) as string;
    await seedPlane(t);
    browser = await launchBrowser();
    // Chromium logs every failed fetch: the refused sign-in (401) and the missing project (404)
    // are steps of this test. Anything else (a CSP violation, a failed asset, an exception) is not.
    ({ page, problems } = await watchedPage(browser, {
      ignore: (text, url) => /status of 40[14]/.test(text) && new URL(url).pathname.startsWith("/v1/"),
    }));
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  it("serves the console with its CSP", async () => {
    const res = await page.goto(`${base}/console`);
    expect(res?.status()).toBe(200);
    const headers = res?.headers() ?? {};
    expect(headers["content-security-policy"]).toBe(ConsoleAssets.csp);
    expect(headers["x-content-type-options"]).toBe("nosniff");
    expect(headers["cache-control"]).toBe("no-cache");
    await expect(page.getByRole("heading", { name: "Operator console" }).isVisible()).resolves.toBe(true);
    await shot("01-sign-in");
  });

  it("signs in with the keyboard alone, after showing a refused attempt", async () => {
    await signIn("admin@example.com", "wrong password entirely");
    const alert = page.getByRole("alert");
    await alert.waitFor();
    expect(await alert.textContent()).toMatch(/request req_/);
    await shot("02-sign-in-refused");

    await page.getByLabel("Email").fill("");
    await page.getByLabel("Password").fill("");
    await page.getByLabel("Email").focus();
    await page.keyboard.type("admin@example.com");
    await page.keyboard.press("Tab");
    expect(await page.evaluate("document.activeElement?.id")).toBe("password");
    await page.keyboard.type(TEST_PASSWORD);
    await page.keyboard.press("Tab");
    expect(await page.evaluate("document.activeElement?.textContent")).toBe("Sign in");
    await page.keyboard.press("Enter");
    await page.getByRole("heading", { name: "Projects" }).waitFor();
    expect(new URL(page.url()).pathname).toBe("/console/projects");
    expect(await page.evaluate("sessionStorage.length")).toBe(1);
  });

  it("lists projects, shows one with its environments and adds a production environment", async () => {
    await page.getByRole("cell", { name: "Test project" }).waitFor();
    await shot("03-projects");
    await page.getByRole("link", { name: "Test project" }).click();
    await page.getByRole("heading", { name: "Test project" }).waitFor();
    const rows = page.locator("main table tbody tr");
    await page.getByRole("link", { name: "Env B" }).waitFor();
    await expect.poll(() => rows.count(), { timeout: 10_000 }).toBe(2);
    await page.getByRole("button", { name: "New environment" }).click();
    const dialog = page.getByRole("dialog", { name: "New environment" });
    await dialog.getByLabel("Name", { exact: true }).fill("Production");
    await dialog.getByLabel(/^Production: live data/).check();
    await shot("04-new-environment");
    await dialog.getByRole("button", { name: "Create environment" }).click();
    await page.getByRole("link", { name: "Production" }).waitFor();
    await expect.poll(() => rows.count(), { timeout: 10_000 }).toBe(3);
    await shot("04-project-detail");
  });

  it("switches environment, production in the warning colour", async () => {
    const env = page.getByLabel("Environment", { exact: true });
    await page.getByRole("option", { name: "Production (production)" }).waitFor({ state: "attached" });
    await env.selectOption({ label: "Production (production)" });
    await page.getByText("Production: live data").waitFor();
    expect(await env.getAttribute("class")).toContain("production");
    const colour = await page.evaluate(
      'getComputedStyle(document.getElementById("context-environment")).backgroundColor',
    );
    expect(colour).toBe("rgb(255, 242, 220)");
    await shot("05-production-selected");
    await env.selectOption({ label: "Env A" });
    await expect.poll(() => page.getByText("Production: live data").count(), { timeout: 10_000 }).toBe(0);
  });

  it("lists environments and shows one with its surfaces", async () => {
    await nav("Environments");
    await page.getByRole("heading", { name: "Environments" }).waitFor();
    // A new view takes the focus to its heading, so keyboard users start there.
    expect(await focused()).toBe("H1 Environments");
    await page.getByRole("link", { name: "Env B" }).click();
    await page.getByRole("heading", { name: "Surfaces" }).waitFor();
    await page.getByRole("cell", { name: "Portal" }).waitFor();
    await shot("06-environment-detail");
  });

  it("lists operators, creates one and disables it", async () => {
    await nav("Operators");
    await page.getByRole("cell", { name: "support@example.com" }).waitFor();
    await page.getByRole("button", { name: "New operator" }).click();
    const dialog = page.getByRole("dialog", { name: "New operator" });
    await dialog.getByLabel("Name").fill("Night shift");
    await dialog.getByLabel("Email").fill("night@example.com");
    await dialog.getByLabel("Initial password").fill(TEST_PASSWORD);
    await dialog.getByRole("button", { name: "Create operator" }).click();
    await page.getByRole("cell", { name: "night@example.com" }).waitFor();
    await page.getByRole("button", { name: "Disable Night shift" }).click();
    await page.getByRole("button", { name: "Enable Night shift" }).waitFor();
    await shot("07-operators");
  });

  it("creates an API token, shown once, and revokes it", async () => {
    await nav("API tokens");
    await page.getByRole("heading", { name: "API tokens" }).waitFor();
    await page.getByRole("button", { name: "New API token" }).click();
    await page.getByRole("dialog").getByLabel("Name").fill("deploy script");
    await page.getByRole("button", { name: "Create token" }).click();
    const shown = page.locator(".notice-success code");
    await shown.waitFor();
    const token = (await shown.textContent()) ?? "";
    const me = await fetch(`${base}/v1/operator/me`, { headers: { authorization: `Bearer ${token}` } });
    expect(me.status).toBe(200);
    await shot("08-api-token-created");
    await page.getByRole("button", { name: "I have stored it" }).click();
    await page.getByRole("button", { name: "Revoke deploy script" }).click();
    await page.getByRole("cell", { name: "deploy script", exact: true }).waitFor({ state: "detached" });
    expect((await fetch(`${base}/v1/operator/me`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(401);
  });

  it("shows the audit signing keys", async () => {
    await nav("Audit signing");
    await page.getByRole("heading", { name: "Audit signing" }).waitFor();
    await page.getByRole("button", { name: "Rotate signing key" }).click();
    await page.locator(".key-list li").first().waitFor();
    expect(await page.locator(".key-list").textContent()).toContain("active");
    await shot("09-audit-signing");
  });

  it("shows a problem with its request id for a missing resource", async () => {
    await page.goto(`${base}/console/projects/prj_00000000000000000000000000`);
    const alert = page.getByRole("alert");
    await alert.waitFor();
    expect(await alert.textContent()).toMatch(/HTTP 404.*request req_/s);
    await shot("10-error-state");
  });

  it("goes back to sign-in with a message when the session ends", async () => {
    const token = await page.evaluate<string>('JSON.parse(sessionStorage.getItem("baseplate.console.session")).token');
    const revoked = await fetch(`${base}/v1/operator/tokens/current/revoke`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}` },
    });
    expect(revoked.status).toBe(200);
    await nav("Operators");
    await page.getByText("Your session has ended").waitFor();
    await page.getByRole("heading", { name: "Operator console" }).waitFor();
    expect(await page.evaluate("sessionStorage.length")).toBe(0);
    await shot("11-session-ended");
  });

  it("signs out", async () => {
    await signIn("admin@example.com", TEST_PASSWORD);
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByRole("heading", { name: "Operator console" }).waitFor();
    expect(await page.evaluate("sessionStorage.length")).toBe(0);
  });

  it("met no CSP violation and no console error", () => {
    expect(problems).toEqual([]);
  });
});
