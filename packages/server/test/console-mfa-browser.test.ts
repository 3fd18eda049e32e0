import { generate } from "otplib";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { browserRuns, browserTitle, launchBrowser, navigate, screenshot, watchedPage } from "../src/testing/browser.js";
import { type SeededPlane, seedPlane, TEST_PASSWORD } from "../src/testing/fixtures.js";
import { createTestApp, type TestApp } from "../src/testing/harness.js";
import { freePort } from "../src/testing/spawn.js";

// Two-factor sign-in for operators, in a real Chromium: an admin turns it on in the console (a QR
// code and the key, a first code, recovery codes shown once), the operators list says so, and the
// next sign-in asks for a code after the password — a wrong one is refused, a right one signs in.
// Turning it off takes a code. Screenshots go to test-results/screenshots/ (git-ignored).
//
// NOTE: SQLite only, like the other console browser tests (the API is tested on both engines in
// src/modules/identity/operator-mfa.test.ts).

let t: TestApp;
let p: SeededPlane;
let base: string;
let browser: Browser;
let page: Page;
let secret = "";
let recoveryCodes: string[] = [];
let problems: string[] = [];

const shot = (name: string) => screenshot(page, name);
const nav = (label: string) => navigate(page, label);

/** code: the authenticator's code `steps` 30-second steps from now. */
const code = (steps = 0) => generate({ secret, epoch: Math.floor(Date.now() / 1000) + steps * 30 });

describe.skipIf(!browserRuns)(browserTitle("Console two-factor sign-in in Chromium"), () => {
  beforeAll(async () => {
    const port = await freePort();
    t = await createTestApp("sqlite", {
      plane: true,
      migrate: false,
      env: { BASEPLATE_HOST: "127.0.0.1", BASEPLATE_PORT: String(port), BASEPLATE_MIGRATE_ON_START: "true" },
    });
    base = (await t.app.start({ workers: false })) as string;
    p = await seedPlane(t);
    browser = await launchBrowser();
    // The refused codes are expected 401s of the sign-in call.
    ({ page, problems } = await watchedPage(browser, { ignore: (text) => text.includes("401") }));
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  it("turns two-factor sign-in on: a QR code and the key, a first code, recovery codes shown once", async () => {
    await page.goto(`${base}/console`);
    await page.getByLabel("Email").fill("admin@example.com");
    await page.getByLabel("Password").fill(TEST_PASSWORD);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("button", { name: "Sign out" }).waitFor();
    await nav("Two-factor sign-in");
    await page.getByRole("heading", { name: /Status/ }).waitFor();
    await expect(page.getByRole("heading", { name: /Status/ }).textContent()).resolves.toContain("off");
    await page.getByRole("button", { name: "Turn on two-factor sign-in" }).click();
    await page.getByRole("img", { name: "QR code of your two-factor secret" }).waitFor();
    secret = (await page.locator(".copyable code").first().textContent()) ?? "";
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    await shot("12-two-factor-enrol");
    await page.getByLabel("2. Enter the 6-digit code the app shows").fill("000000");
    await page.getByRole("button", { name: "Turn on", exact: true }).click();
    await page.getByText("The code is wrong").first().waitFor();
    await page.getByLabel("2. Enter the 6-digit code the app shows").fill(await code());
    await page.getByRole("button", { name: "Turn on", exact: true }).click();
    const shown = page.getByRole("list", { name: "Recovery codes" }).getByRole("listitem");
    await shown.first().waitFor();
    await expect.poll(() => shown.count(), { timeout: 10_000 }).toBe(10);
    recoveryCodes = await shown.allTextContents();
    await expect(page.getByRole("heading", { name: /Status/ }).textContent()).resolves.toContain("on");
    await shot("13-two-factor-on");
    await page.getByRole("button", { name: "I have stored them" }).click();
    await expect.poll(() => shown.count(), { timeout: 10_000 }).toBe(0);

    // The API agrees, and the operators list shows it.
    const status = await fetch(`${base}/v1/operator/mfa`, {
      headers: { authorization: `Bearer ${p.operatorToken}` },
    });
    expect(await status.json()).toMatchObject({ enabled: true, recoveryCodesLeft: 10 });
    await nav("Operators");
    const row = page.locator("tbody tr", { hasText: "admin@example.com" });
    await row.waitFor();
    await expect(row.textContent()).resolves.toContain("on");
  });

  it("the next sign-in asks for a code after the password: a wrong one is refused, a right one signs in", async () => {
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByLabel("Email").fill("admin@example.com");
    await page.getByLabel("Password").fill(TEST_PASSWORD);
    await page.getByRole("button", { name: "Sign in" }).click();
    const field = page.getByLabel("Authentication code");
    await field.waitFor();
    await shot("14-sign-in-code");
    await field.fill("123456");
    await page.getByRole("button", { name: "Verify" }).click();
    await page.getByText("The code is wrong").first().waitFor();
    // The code of the next step: the first one was spent turning it on.
    await field.fill(await code(1));
    await page.getByRole("button", { name: "Verify" }).click();
    await page.getByRole("button", { name: "Sign out" }).waitFor();
  });

  it("turning it off takes a code (here a recovery code)", async () => {
    await nav("Two-factor sign-in");
    await page.getByRole("button", { name: "Turn off" }).click();
    const dialog = page.getByRole("dialog", { name: "Turn off two-factor sign-in" });
    await dialog.getByLabel(/Code of your authenticator app/).fill("999999");
    await dialog.getByRole("button", { name: "Turn off" }).click();
    await dialog.getByText("The code is wrong").first().waitFor();
    const status = await fetch(`${base}/v1/operator/mfa`, {
      headers: { authorization: `Bearer ${p.operatorToken}` },
    });
    const { recoveryCodesLeft } = (await status.json()) as { recoveryCodesLeft: number };
    expect(recoveryCodesLeft).toBe(10);
    // The authenticator's codes of this minute are spent: a recovery code does it.
    await dialog.getByLabel(/Code of your authenticator app/).fill(recoveryCodes[0] ?? "");
    await dialog.getByRole("button", { name: "Turn off" }).click();
    await page.getByRole("button", { name: "Turn on two-factor sign-in" }).waitFor();
    await expect(page.getByRole("heading", { name: /Status/ }).textContent()).resolves.toContain("off");
  });

  it("met no CSP violation and no console error", () => {
    expect(problems).toEqual([]);
  });
});
