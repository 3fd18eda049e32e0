import { createHash, createPublicKey } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { auditFormat, verifyExportFile } from "../src/modules/audit/index.js";
import { browserRuns, browserTitle, launchBrowser, navigate, screenshot, watchedPage } from "../src/testing/browser.js";
import { type SeededPlane, seedPlane, TEST_PASSWORD } from "../src/testing/fixtures.js";
import { createTestApp, type TestApp } from "../src/testing/harness.js";
import { freePort } from "../src/testing/spawn.js";
import { runDueJobs, WebhookReceiver } from "../src/testing/webhook-receiver.js";

// The console's audit, events and webhooks views in a real Chromium: a seeded plane whose secret key
// creates tenants (audit entries, events) and a webhook endpoint pointing at a loopback receiver
// that fails (private targets allowed, as in the webhook tests); delivery runs through
// `runDueJobs` (what a worker does). In the UI: the audit timeline with filters, its verification,
// checkpoint and key fingerprint; an export streamed with progress, saved through a blob: link
// (a download under the console's CSP) and verified offline with the code `baseplate audit verify`
// uses; the plane's chain; the event log with its payload and a live tail; the failed delivery,
// resent and seen succeeding; a secret rotated (shown once); a disabled endpoint recovered.
// Screenshots go to test-results/screenshots/ (git-ignored).
//
// NOTE: SQLite only, like console-browser.test.ts (the API is covered on both engines by the
// modules' own tests). Off CI, a missing Chromium or an unbuilt console skips with the reason.

let t: TestApp;
let p: SeededPlane;
let base: string;
let browser: Browser;
let page: Page;
let receiver: WebhookReceiver;
let endpointId: string;
let tmp: string;
let problems: string[] = [];

const shot = (name: string) => screenshot(page, name);

const nav = (label: string) => navigate(page, label);

/** api calls the plane with environment A's secret key (the product's backend). */
async function api(method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${p.a.secretKey}`,
      ...(body !== undefined ? { "content-type": "application/json" } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const json = (await res.json()) as Record<string, unknown>;
  expect(res.ok, `${method} ${path}: ${JSON.stringify(json)}`).toBe(true);
  return json;
}

describe.skipIf(!browserRuns)(browserTitle("Console audit, events and webhooks in Chromium"), () => {
  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), "console-audit-"));
    const port = await freePort();
    t = await createTestApp("sqlite", {
      plane: true,
      migrate: false,
      env: {
        BASEPLATE_HOST: "127.0.0.1",
        BASEPLATE_PORT: String(port),
        BASEPLATE_MIGRATE_ON_START: "true",
        BASEPLATE_WEBHOOKS_ALLOW_PRIVATE_TARGETS: "true",
      },
    });
    base = (await t.app.start({ workers: false })) as string;
    p = await seedPlane(t);
    receiver = new WebhookReceiver();
    await receiver.listen();
    receiver.answer = () => ({ status: 500, body: "receiver down" });

    const endpoint = await api("POST", "/v1/webhooks/endpoints", {
      url: `${receiver.url}/hook`,
      description: "Fulfilment",
      eventTypes: ["tenant.*"],
    });
    endpointId = endpoint.id as string;
    await api("POST", "/v1/tenants", { name: "Acme" });
    await api("POST", "/v1/tenants", { name: "Globex" });
    // One attempt per message: the receiver answers 500, the retries are scheduled for later.
    await runDueJobs(t);
    expect(receiver.received.length).toBeGreaterThanOrEqual(2);
    // A signed checkpoint of the environment's chain, as the hourly job makes.
    await api("POST", "/v1/audit/checkpoints", {});

    browser = await launchBrowser();
    ({ page, problems } = await watchedPage(browser, { acceptDownloads: true }));

    await page.goto(`${base}/console`);
    await page.getByLabel("Email").fill("admin@example.com");
    await page.getByLabel("Password").fill(TEST_PASSWORD);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("heading", { name: "Projects" }).waitFor();
    await page.getByRole("option", { name: "Env A" }).waitFor({ state: "attached" });
    await page.getByLabel("Environment", { exact: true }).selectOption({ label: "Env A" });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await receiver?.close();
    await t?.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it("shows the environment's audit timeline, filtered, with its verification and signing key", async () => {
    await nav("Audit log");
    await page.getByRole("heading", { name: "Audit log" }).waitFor();
    const rows = page.locator("main table.timeline tbody tr");
    await page.getByRole("cell", { name: "tenant.created" }).first().waitFor();
    await page.getByRole("cell", { name: "webhook_endpoint.created" }).first().waitFor();

    await page.getByLabel("Action", { exact: true }).fill("tenant.*");
    await page.getByRole("button", { name: "Apply filters" }).click();
    await page.getByRole("cell", { name: "webhook_endpoint.created" }).first().waitFor({ state: "detached" });
    const actions = await page.locator("main table.timeline tbody tr td:nth-child(2)").allTextContents();
    expect(actions.length).toBeGreaterThanOrEqual(2);
    expect(actions.every((a) => a.startsWith("tenant."))).toBe(true);

    // An entry's details open in place, by keyboard too.
    const details = page.getByRole("button", { name: /Show details of tenant\.created/ }).first();
    await details.focus();
    await page.keyboard.press("Enter");
    await page.locator("tr.row-detail").waitFor();
    expect(await page.locator("tr.row-detail").textContent()).toContain("req_");
    expect(await rows.count()).toBeGreaterThan(actions.length);

    const integrity = page.getByRole("complementary", { name: "Chain integrity" });
    await integrity.getByText("Chain verified").waitFor();
    expect(await integrity.textContent()).toContain("Latest signed checkpoint");
    // The fingerprint is SHA-256 of the key's DER, what `openssl pkey -pubin -outform DER | sha256sum` prints.
    const keys = (await (await fetch(`${base}/v1/audit/public-keys`)).json()) as {
      keys: Array<{ keyId: string; publicKey: string; status: string }>;
    };
    const active = keys.keys.find((k) => k.status === "active");
    const der = createPublicKey(active?.publicKey ?? "").export({ type: "spki", format: "der" });
    const expected = createHash("sha256").update(der).digest("hex");
    expect(await integrity.getByTestId("key-fingerprint").textContent()).toBe(expected);
    await shot("20-audit-environment");
  });

  it("exports the chain with progress, saves it through a blob: link and verifies it offline", async () => {
    const integrity = page.getByRole("complementary", { name: "Chain integrity" });
    await integrity.getByRole("button", { name: "Export JSON Lines" }).click();
    const save = integrity.getByRole("link", { name: /^Save audit-.*\.jsonl$/ });
    await save.waitFor();
    expect(await integrity.textContent()).toMatch(/Received [\d.]+ (B|KB) \(\d+ lines\)/);
    expect(await save.getAttribute("href")).toMatch(/^blob:/);
    const [download] = await Promise.all([page.waitForEvent("download"), save.click()]);
    expect(download.suggestedFilename()).toMatch(/^audit-env_.*\.jsonl$/);
    const file = join(tmp, download.suggestedFilename());
    await download.saveAs(file);
    await shot("21-audit-export");

    // The same check as `baseplate audit verify FILE --public-key keys.json`.
    const keysJson = await (await fetch(`${base}/v1/audit/public-keys`)).text();
    const result = await verifyExportFile(file, auditFormat.loadPublicKeys(keysJson));
    expect(result.errors).toEqual([]);
    expect(result.ok).toBe(true);
    expect(result.chain).toBe(p.a.id);
    expect(result.checkpoints).toBeGreaterThanOrEqual(1);
    const lines = readFileSync(file, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { type?: string });
    expect(lines[0]?.type).toBe("header");
    expect(result.entries).toBe(lines.filter((l) => l.type !== "header" && l.type !== "checkpoint").length);
  });

  it("shows the plane's own chain with project.created", async () => {
    await page.getByLabel(/The plane/).check();
    await page.getByRole("cell", { name: "project.created" }).first().waitFor();
    await page.getByRole("complementary", { name: "Chain integrity" }).getByText("Chain verified").waitFor();
    await shot("22-audit-plane");
  });

  it("lists events, shows a payload and follows the live tail until stopped", async () => {
    await nav("Events");
    await page.getByRole("heading", { name: "Events", exact: true }).waitFor();
    await page.getByRole("cell", { name: "tenant.created" }).first().waitFor();
    await page.getByLabel("Types", { exact: true }).fill("tenant.*");
    await page.getByRole("button", { name: "Apply", exact: true }).click();
    await page.getByRole("cell", { name: "webhook_endpoint.created" }).first().waitFor({ state: "detached" });
    await page
      .getByRole("button", { name: /^View tenant\.created/ })
      .first()
      .click();
    const panel = page.getByRole("complementary", { name: "Event detail" });
    await panel.getByRole("region", { name: /^Payload of evt_/ }).waitFor();
    expect(await panel.textContent()).toMatch(/"name": "(Acme|Globex)"/);

    await page.getByRole("button", { name: "Start live tail" }).click();
    const indicator = page.locator(".live-indicator");
    await indicator.waitFor();
    expect(await indicator.textContent()).toContain("Live: tenant.*");
    await page.getByText("Waiting for new events…").waitFor();
    // Give the stream a moment to open, then make an event: it appears without reloading.
    await page.waitForTimeout(300);
    await api("POST", "/v1/tenants", { name: "Initech" });
    const live = page.getByRole("table", { name: "Live events" });
    await live.getByRole("cell", { name: "tenant.created" }).first().waitFor({ timeout: 10_000 });
    await live
      .getByRole("button", { name: /^View tenant\.created/ })
      .first()
      .click();
    expect(await panel.textContent()).toContain("Initech");
    await shot("23-events-live");
    await page.getByRole("button", { name: "Stop live tail" }).click();
    await indicator.waitFor({ state: "detached" });
    await page.getByRole("button", { name: "Start live tail" }).waitFor();
  });

  it("lists webhook endpoints with their health", async () => {
    await nav("Webhooks");
    await page.getByRole("heading", { name: "Webhooks" }).waitFor();
    const row = page.locator("main table tbody tr", { hasText: "Fulfilment" });
    await row.waitFor();
    // Acme, Globex and Initech: every delivery so far failed (HTTP 500).
    await expect(row.textContent()).resolves.toMatch(/0%/);
    await expect(row.textContent()).resolves.toContain("HTTP 500");
    // Enabled, but failing since the first failed delivery.
    await expect(row.textContent()).resolves.toContain("failing");
    await shot("24-webhooks");
  });

  it("shows a failed attempt, resends it and sees the new attempt succeed", async () => {
    await page.getByRole("link", { name: "Fulfilment" }).click();
    await page.getByRole("heading", { name: "Fulfilment" }).waitFor();
    await page.getByLabel("Status", { exact: true }).selectOption("pending");
    const first = page.getByRole("button", { name: /^Attempts of msg_/ }).first();
    await first.click();
    const detail = page.locator(".message-detail");
    await detail.getByText("Attempt 1").waitFor();
    expect(await detail.textContent()).toContain("HTTP 500");
    expect(await detail.textContent()).toContain("receiver down");
    // The event (a tenant's) is the tenant's own: the console says how to see it.
    expect(await detail.textContent()).toContain("under support access");
    const messageId = ((await first.getAttribute("aria-label")) ?? "").replace("Attempts of ", "");
    await shot("25-webhook-failed-attempt");

    receiver.answer = () => ({ status: 200, body: "thanks" });
    await page.getByRole("button", { name: `Resend ${messageId}` }).click();
    await detail.getByText("Attempt 1").waitFor();
    // The delivery worker's turn.
    await runDueJobs(t);
    await page.getByRole("button", { name: "Refresh" }).click();
    // The open message's attempts reload with the list.
    await detail.locator("li.attempt", { hasText: "succeeded" }).waitFor();
    const attempts = await detail.locator("li.attempt").allTextContents();
    expect(attempts).toHaveLength(2);
    expect(attempts.some((a) => a.includes("failed") && a.includes("HTTP 500"))).toBe(true);
    expect(attempts.some((a) => a.includes("succeeded") && a.includes("HTTP 200") && a.includes("thanks"))).toBe(true);
    expect(receiver.received.filter((d) => d.headers["webhook-id"] === messageId)).toHaveLength(2);
    await shot("26-webhook-resent");
  });

  it("rotates the secret after a confirmation with a reason, showing it once", async () => {
    await page.getByRole("button", { name: "Rotate secret" }).click();
    const dialog = page.getByRole("dialog", { name: "Rotate signing secret" });
    const submit = dialog.getByRole("button", { name: "Rotate secret" });
    expect(await submit.isDisabled()).toBe(true);
    await dialog.getByLabel(/^Reason/).fill("Receiver moved to a new vault");
    await submit.click();
    const shown = page.locator(".notice-success code");
    await shown.waitFor();
    expect(await shown.textContent()).toMatch(/^whsec_/);
    await shot("27-webhook-secret-rotated");
    await page.getByRole("button", { name: "I have stored it" }).click();
    await expect.poll(() => page.locator(".notice-success").count(), { timeout: 10_000 }).toBe(0);
    const entries = (await api("GET", "/v1/audit/entries?action=operator.reason_given")) as {
      data: Array<{ actor: { type: string }; metadata: Record<string, unknown> }>;
    };
    expect(entries.data[0]).toMatchObject({
      actor: { type: "operator" },
      metadata: { action: "webhook_endpoint.secret_rotated", reason: "Receiver moved to a new vault" },
    });
  });

  it("recovers a disabled endpoint", async () => {
    await api("PATCH", `/v1/webhooks/endpoints/${endpointId}`, { enabled: false });
    await page.reload();
    await page.getByText("This endpoint is disabled").waitFor();
    await page.getByRole("button", { name: "Recover endpoint" }).click();
    const dialog = page.getByRole("dialog", { name: "Recover endpoint" });
    await dialog.getByLabel(/^Reason/).fill("Receiver back after the outage");
    await dialog.getByRole("button", { name: "Enable and resend" }).click();
    await page.getByText(/Endpoint enabled\. \d+ failed messages? put back in line\./).waitFor();
    await page.getByText("This endpoint is disabled").waitFor({ state: "detached" });
    const endpoint = await api("GET", `/v1/webhooks/endpoints/${endpointId}`);
    expect(endpoint.enabled).toBe(true);
  });

  it("shows support operators the same views read-only", async () => {
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByLabel("Email").fill("support@example.com");
    await page.getByLabel("Password").fill(TEST_PASSWORD);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByText("Support (support)").waitFor();
    await page.goto(`${base}/console/webhooks/${endpointId}`);
    await page.getByRole("heading", { name: "Fulfilment" }).waitFor();
    await page.getByText(/^Read-only: support operators/).waitFor();
    await page
      .getByRole("button", { name: /^Attempts of msg_/ })
      .first()
      .waitFor();
    await expect.poll(() => page.getByRole("button", { name: /^Resend msg_/ }).count(), { timeout: 10_000 }).toBe(0);
    await expect.poll(() => page.getByRole("button", { name: "Rotate secret" }).count(), { timeout: 10_000 }).toBe(0);
  });

  it("met no CSP violation and no console error", () => {
    expect(problems).toEqual([]);
  });
});
