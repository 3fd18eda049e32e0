import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { browserRuns, browserTitle, launchBrowser, navigate, screenshot, watchedPage } from "../src/testing/browser.js";
import { type SeededPlane, seedPlane, TEST_PASSWORD } from "../src/testing/fixtures.js";
import { createTestApp, type TestApp } from "../src/testing/harness.js";
import { freePort } from "../src/testing/spawn.js";

// The console's environment views end to end in a real Chromium: an admin operator works in an
// environment chosen in the header — tenants (search, state filter, paging, create, keys, members,
// the lifecycle with reasons), users (memberships, sessions, disable) and the environment's secret
// keys — and what the UI does is checked against the API from outside: a tenant key created and
// copied from the page is refused while the tenant is suspended in the UI and works again once it
// is reactivated. A support operator reads the same tenant without the actions. Screenshots go to
// test-results/screenshots/ (git-ignored).
//
// NOTE: SQLite only, like console-browser.test.ts (same Chromium, same skip rules): the API the
// console calls is covered on both engines by the modules' own tests.

let t: TestApp;
let p: SeededPlane;
let base: string;
let browser: Browser;
let page: Page;
let problems: string[] = [];
const seeded = { globexId: "", annId: "", bobId: "" };

const shot = (name: string) => screenshot(page, name);

const nav = (label: string) => navigate(page, label);

async function signIn(email: string, password: string): Promise<void> {
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("button", { name: "Sign out" }).waitFor();
}

/** api calls the plane from outside the browser, as a product's backend or integration would. */
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

/** tenantWrite: a write a tenant key makes (an audit entry in its tenant's chain). */
const tenantWrite = (token: string) => api(token, "POST", "/v1/audit/entries", { action: "report.exported" });

/** until probes until `ok` holds (or 5 s pass) and returns the last answer. */
async function until<T>(probe: () => Promise<T>, ok: (v: T) => boolean): Promise<T> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const v = await probe();
    if (ok(v) || Date.now() > deadline) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** rows: the body rows of the table captioned `caption`. */
const rows = (caption: string) =>
  page.locator("table", { has: page.locator("caption", { hasText: caption }) }).locator("tbody tr");

describe.skipIf(!browserRuns)(browserTitle("Console environment views in Chromium"), () => {
  beforeAll(async () => {
    const port = await freePort();
    t = await createTestApp("sqlite", {
      plane: true,
      migrate: false,
      env: { BASEPLATE_HOST: "127.0.0.1", BASEPLATE_PORT: String(port), BASEPLATE_MIGRATE_ON_START: "true" },
    });
    base = (await t.app.start({ workers: false })) as string;
    p = await seedPlane(t);

    // Environment A, as the product's backend would fill it: a customer with a member who signed
    // in and delegated to an agent, a second user, and enough tenants for a second page.
    const sk = p.a.secretKey;
    const globex = await api(sk, "POST", "/v1/tenants", { name: "Globex", externalId: "crm-globex" });
    expect(globex.status).toBe(201);
    seeded.globexId = globex.json.id as string;
    const ann = await api(sk, "POST", "/v1/users", {
      email: "ann@globex.com",
      name: "Ann Example",
      password: TEST_PASSWORD,
    });
    expect(ann.status).toBe(201);
    seeded.annId = ann.json.id as string;
    const bob = await api(sk, "POST", "/v1/users", { email: "bob@example.com", name: "Bob Other" });
    seeded.bobId = bob.json.id as string;
    expect(
      (await api(sk, "POST", `/v1/tenants/${seeded.globexId}/members`, { userId: seeded.annId, roles: ["owner"] }))
        .status,
    ).toBe(201);
    const login = await fetch(`${base}/v1/auth/login`, {
      method: "POST",
      headers: { "content-type": "application/json", "user-agent": "Console test browser" },
      body: JSON.stringify({ surfaceId: p.a.surfaceId, email: "ann@globex.com", password: TEST_PASSWORD }),
    });
    expect(login.status).toBe(201);
    const agent = await api(sk, "POST", `/v1/tenants/${seeded.globexId}/agent-keys`, {
      name: "Report bot",
      model: "gpt-test",
      scopes: ["tenants:read"],
      userId: seeded.annId,
    });
    expect(agent.status, JSON.stringify(agent.json)).toBe(201);
    for (let i = 1; i <= 26; i++) {
      const r = await api(sk, "POST", "/v1/tenants", { name: `Customer ${String(i).padStart(2, "0")}` });
      expect(r.status).toBe(201);
    }

    browser = await launchBrowser();
    ({ page, problems } = await watchedPage(browser));
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  it("signs in and works in environment A", async () => {
    await page.goto(`${base}/console`);
    await signIn("admin@example.com", TEST_PASSWORD);
    const env = page.getByLabel("Environment", { exact: true });
    await page.getByRole("option", { name: "Env A" }).waitFor({ state: "attached" });
    await env.selectOption({ label: "Env A" });
    await nav("Tenants");
    await page.getByRole("heading", { name: "Tenants" }).waitFor();
    await expect(page.getByText("In environment Env A").isVisible()).resolves.toBe(true);
  });

  it("lists tenants a page at a time, searches them and filters them by state", async () => {
    const list = rows("Tenants");
    await page.getByRole("link", { name: "Customer 10" }).waitFor();
    await expect.poll(() => list.count(), { timeout: 10_000 }).toBe(25);
    await page.getByRole("button", { name: "Load more" }).click();
    await page.getByRole("button", { name: "Load more" }).waitFor({ state: "detached" });
    await expect.poll(() => list.count(), { timeout: 10_000 }).toBe(27);
    await shot("20-tenants");

    await page.getByLabel("Search", { exact: true }).fill("crm-glo");
    await page.getByRole("button", { name: "Search", exact: true }).click();
    await page.getByRole("link", { name: "Customer 10" }).waitFor({ state: "detached" });
    await expect.poll(() => list.count(), { timeout: 10_000 }).toBe(1);
    await page.getByRole("link", { name: "Globex" }).waitFor();

    await page.getByLabel("State").selectOption("suspended");
    await page.getByText("No tenant matches.").waitFor();
    await page.getByLabel("State").selectOption("");
    await page.getByLabel("Search", { exact: true }).fill("");
    await page.getByRole("button", { name: "Search", exact: true }).click();
    await page.getByRole("link", { name: "Customer 10" }).waitFor();
  });

  let tenantKey = "";
  it("creates a tenant and a tenant key in the UI; the key is shown once and works", async () => {
    await page.getByRole("button", { name: "New tenant" }).click();
    const dialog = page.getByRole("dialog", { name: "New tenant" });
    await dialog.getByLabel("Name").fill("Initech");
    await dialog.getByLabel("External id (optional)").fill("crm-initech");
    await dialog.getByRole("button", { name: "Create tenant" }).click();
    await page.getByRole("heading", { name: /^Initech/ }).waitFor();
    // The tenant's own data waits behind support access, which the tenant sees.
    await expect
      .poll(() => page.getByRole("heading", { name: "Lifecycle history" }).count(), { timeout: 10_000 })
      .toBe(0);
    await askSupportAccess("write");
    await page.getByText("No lifecycle changes recorded.").waitFor({ state: "detached" });
    await expect(rows("Lifecycle history").first().textContent()).resolves.toContain("tenant.created");

    await page.getByRole("button", { name: "New tenant key" }).click();
    const keyDialog = page.getByRole("dialog", { name: "New tenant key" });
    await keyDialog.getByLabel("Name").fill("integration");
    // The surface is required: the environment's surfaces are offered, the first one chosen.
    await expect(keyDialog.getByLabel("Surface").inputValue()).resolves.toBe(p.a.surfaceId);
    await keyDialog.getByLabel("Permissions").fill("tenants:read, audit:write");
    await keyDialog.getByRole("button", { name: "Create key" }).click();
    const shown = page.locator(".notice-success code");
    await shown.waitFor();
    tenantKey = (await shown.textContent()) ?? "";
    expect(tenantKey).toMatch(/^bp_tk_/);
    await rows("Tenant keys").filter({ hasText: "integration" }).waitFor();
    expect((await tenantWrite(tenantKey)).status).toBe(201);
    await page.getByRole("button", { name: "I have stored it" }).click();
    await expect.poll(() => shown.count(), { timeout: 10_000 }).toBe(0);
  });

  it("suspends the tenant with a reason: its key is refused; reactivating restores it", async () => {
    await page.getByRole("button", { name: "Suspend" }).click();
    const dialog = page.getByRole("dialog", { name: "Suspend tenant" });
    const confirm = dialog.getByRole("button", { name: "Suspend" });
    // The reason is required.
    await expect(confirm.isDisabled()).resolves.toBe(true);
    await dialog.getByLabel("Reason").fill("Chargeback under review");
    await dialog.getByRole("button", { name: "Suspend" }).click();
    await page.getByRole("button", { name: "Reactivate" }).waitFor();
    await expect(page.locator(".notice-warn").textContent()).resolves.toContain("Chargeback under review");
    await rows("Lifecycle history")
      .filter({ hasText: "tenant.suspended" })
      .filter({ hasText: "Chargeback under review" })
      .waitFor();

    const refused = await until(
      () => tenantWrite(tenantKey),
      (r) => r.status === 403,
    );
    expect(refused.status).toBe(403);
    expect(refused.json.code).toBe("tenant_suspended");
    // Reading stays open to a suspended tenant.
    expect((await api(tenantKey, "GET", `/v1/tenants/${await tenantIdOnPage()}`)).status).toBe(200);
    await shot("21-tenant-suspended");

    await page.getByRole("button", { name: "Reactivate" }).click();
    const again = page.getByRole("dialog", { name: "Reactivate tenant" });
    await again.getByLabel("Reason").fill("Payment received");
    await again.getByRole("button", { name: "Reactivate" }).click();
    await page.getByRole("button", { name: "Suspend" }).waitFor();
    await rows("Lifecycle history")
      .filter({ hasText: "tenant.reactivated" })
      .filter({ hasText: "Payment received" })
      .waitFor();
    const works = await until(
      () => tenantWrite(tenantKey),
      (r) => r.status === 201,
    );
    expect(works.status).toBe(201);
  });

  it("invites a member (token shown once) and rotates the tenant key", async () => {
    await page.getByRole("button", { name: "Invite member" }).click();
    const dialog = page.getByRole("dialog", { name: "Invite member" });
    await dialog.getByLabel("Email").fill("carol@initech.example");
    await dialog.getByRole("checkbox", { name: /member/ }).check();
    await dialog.getByRole("button", { name: "Send invitation" }).click();
    await expect(page.locator(".notice-success").textContent()).resolves.toContain("carol@initech.example");
    await expect(page.locator(".notice-success code").textContent()).resolves.toMatch(/^bp_iv_/);
    await rows("Pending invitations").filter({ hasText: "carol@initech.example" }).waitFor();
    await page.getByRole("button", { name: "I have stored it" }).click();

    await page.getByRole("button", { name: "Rotate integration" }).click();
    const rotate = page.getByRole("dialog", { name: "Rotate tenant key" });
    await rotate.getByRole("button", { name: "Rotate" }).click();
    const shown = page.locator(".notice-success code");
    await shown.waitFor();
    const next = (await shown.textContent()) ?? "";
    expect(next).toMatch(/^bp_tk_/);
    expect(next).not.toBe(tenantKey);
    expect((await tenantWrite(next)).status).toBe(201);
    await rows("Tenant keys").filter({ hasText: "(rotated)" }).waitFor();
    await expect.poll(() => rows("Tenant keys").count(), { timeout: 10_000 }).toBe(2);
    await shot("22-tenant-detail");
    await page.getByRole("button", { name: "I have stored it" }).click();

    // Revoke the new key: it stops at once.
    await page.getByRole("button", { name: "Revoke integration", exact: true }).click();
    await page.getByRole("dialog", { name: "Revoke tenant key" }).getByRole("button", { name: "Revoke" }).click();
    await page.getByRole("dialog", { name: "Revoke tenant key" }).waitFor({ state: "detached" });
    const revoked = await until(
      () => tenantWrite(next),
      (r) => r.status === 401,
    );
    expect(revoked.status).toBe(401);
  });

  it("shows a tenant's members with their roles and revokes an agent key", async () => {
    await page.goto(`${base}/console/tenants/${seeded.globexId}`);
    await page.getByRole("heading", { name: /^Globex/ }).waitFor();
    await askSupportAccess("write");
    const member = rows("Members").filter({ hasText: seeded.annId });
    await member.waitFor();
    await expect(member.textContent()).resolves.toContain("owner");
    const agent = rows("Agent keys").filter({ hasText: "Report bot" });
    await agent.waitFor();
    await expect(agent.textContent()).resolves.toContain("active");
    await page.getByRole("button", { name: "Revoke agent key Report bot" }).click();
    await page.getByRole("dialog", { name: "Revoke agent key" }).getByRole("button", { name: "Revoke" }).click();
    await rows("Agent keys").filter({ hasText: "revoked" }).waitFor();
    await shot("23-tenant-globex");
  });

  it("lists and searches users", async () => {
    await nav("Users");
    await page.getByRole("heading", { name: "Users" }).waitFor();
    await page.getByRole("link", { name: "bob@example.com" }).waitFor();
    await expect.poll(() => rows("Users").count(), { timeout: 10_000 }).toBe(2);
    await shot("24-users");
    await page.getByLabel("Search", { exact: true }).fill("Ann");
    await page.getByRole("button", { name: "Search", exact: true }).click();
    await page.getByRole("link", { name: "bob@example.com" }).waitFor({ state: "detached" });
    await expect.poll(() => rows("Users").count(), { timeout: 10_000 }).toBe(1);
  });

  it("shows a user's memberships and sessions; ends the sessions, disables and enables the user", async () => {
    await page.getByRole("link", { name: "ann@globex.com" }).click();
    await page.getByRole("heading", { name: /^Ann Example/ }).waitFor();
    await rows("Memberships").filter({ hasText: seeded.globexId }).filter({ hasText: "owner" }).waitFor();
    await rows("Sessions").filter({ hasText: "password" }).waitFor();
    await shot("25-user-detail");

    await page.getByRole("button", { name: "End all sessions" }).click();
    await page.getByRole("dialog", { name: "End every session" }).getByRole("button", { name: "End sessions" }).click();
    await page.getByText("No live sessions.").waitFor();

    await page.getByRole("button", { name: "Disable" }).click();
    await page.getByRole("dialog", { name: "Disable user" }).getByRole("button", { name: "Disable" }).click();
    await page.getByRole("button", { name: "Enable" }).waitFor();
    expect((await api(p.a.secretKey, "GET", `/v1/users/${seeded.annId}`)).json.disabled).toBe(true);
    await page.getByRole("button", { name: "Enable" }).click();
    await page.getByRole("dialog", { name: "Enable user" }).getByRole("button", { name: "Enable" }).click();
    await page.getByRole("button", { name: "Disable" }).waitFor();
    expect((await api(p.a.secretKey, "GET", `/v1/users/${seeded.annId}`)).json.disabled).toBe(false);
  });

  it("lists the environment's secret keys, issues one (shown once), rotates and revokes it", async () => {
    await nav("Secret keys");
    await page.getByRole("heading", { name: "Secret keys" }).waitFor();
    const backend = rows("Secret keys").filter({ hasText: "backend" });
    await backend.waitFor();
    await expect(backend.textContent()).resolves.toContain(p.operatorId);
    await page.getByRole("button", { name: "New secret key" }).click();
    const dialog = page.getByRole("dialog", { name: "New secret key" });
    await dialog.getByLabel("Name").fill("ci");
    await dialog.getByRole("button", { name: "Create key" }).click();
    const shown = page.locator(".notice-success code");
    await shown.waitFor();
    const key = (await shown.textContent()) ?? "";
    expect(key).toMatch(/^bp_sk_/);
    expect((await api(key, "GET", "/v1/tenants?limit=1")).status).toBe(200);
    await shot("26-secret-keys");
    await page.getByRole("button", { name: "I have stored it" }).click();
    // Rotate with no grace: the successor (shown once) works, the old key stops at once.
    await page.getByRole("button", { name: "Rotate ci" }).click();
    const rotate = page.getByRole("dialog", { name: "Rotate secret key" });
    await rotate.getByLabel("The old key keeps working").selectOption("0");
    await rotate.getByRole("button", { name: "Rotate" }).click();
    const successor = page.locator(".notice-success code");
    await successor.waitFor();
    const next = (await successor.textContent()) ?? "";
    expect(next).toMatch(/^bp_sk_/);
    expect(next).not.toBe(key);
    expect((await api(next, "GET", "/v1/tenants?limit=1")).status).toBe(200);
    const old = await until(
      () => api(key, "GET", "/v1/tenants?limit=1"),
      (r) => r.status === 401,
    );
    expect(old.status).toBe(401);
    await page.getByRole("button", { name: "I have stored it" }).click();
    await page.getByRole("button", { name: "Revoke ci", exact: true }).click();
    await page.getByRole("dialog", { name: "Revoke secret key" }).getByRole("button", { name: "Revoke" }).click();
    await rows("Secret keys")
      .filter({ has: page.getByRole("cell", { name: "ci", exact: true }) })
      .filter({ hasText: "revoked" })
      .waitFor();
    await expect
      .poll(() => page.getByRole("button", { name: "Revoke ci", exact: true }).count(), { timeout: 10_000 })
      .toBe(0);
    expect((await api(next, "GET", "/v1/tenants?limit=1")).status).toBe(401);
  });

  it("a support operator reads a tenant but is offered no lifecycle or key actions", async () => {
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByRole("heading", { name: "Operator console" }).waitFor();
    await signIn("support@example.com", TEST_PASSWORD);
    await page.getByRole("option", { name: "Env A" }).waitFor({ state: "attached" });
    await page.getByLabel("Environment", { exact: true }).selectOption({ label: "Env A" });
    await nav("Tenants");
    await page.getByRole("link", { name: "Globex" }).click();
    await page.getByRole("heading", { name: /^Globex/ }).waitFor();
    // A support operator may ask for reading only.
    await expect(page.getByLabel("Access", { exact: true }).locator("option").allTextContents()).resolves.toEqual([
      "Read only",
    ]);
    await askSupportAccess("read");
    await rows("Members").filter({ hasText: seeded.annId }).waitFor();
    await page.getByRole("note").filter({ hasText: "support" }).waitFor();
    for (const name of [
      "Suspend",
      "Deactivate",
      "Reactivate",
      "Invite member",
      "New tenant key",
      "Revoke agent key Report bot",
    ]) {
      await expect(page.getByRole("button", { name }).count(), name).resolves.toBe(0);
    }
    await shot("27-tenant-support");
    await nav("Tenants");
    await page.getByRole("link", { name: "Globex" }).waitFor();
    await expect.poll(() => page.getByRole("button", { name: "New tenant" }).count(), { timeout: 10_000 }).toBe(0);
    await page.goto(`${base}/console/users/${seeded.annId}`);
    await page.getByRole("heading", { name: /^Ann Example/ }).waitFor();
    await rows("Memberships").filter({ hasText: "Globex" }).waitFor();
    await expect.poll(() => page.getByRole("button", { name: "Disable" }).count(), { timeout: 10_000 }).toBe(0);
    await nav("Secret keys");
    await rows("Secret keys").filter({ hasText: "backend" }).waitFor();
    await expect.poll(() => page.getByRole("button", { name: "New secret key" }).count(), { timeout: 10_000 }).toBe(0);
    await expect.poll(() => page.getByRole("button", { name: /^Revoke/ }).count(), { timeout: 10_000 }).toBe(0);
  });

  it("met no CSP violation and no console error", () => {
    expect(problems).toEqual([]);
  });
});

/** askSupportAccess asks for support access to the tenant on the page, and waits for it to be active. */
async function askSupportAccess(access: "read" | "write"): Promise<void> {
  await page.getByRole("heading", { name: "Support access" }).waitFor();
  await page.getByLabel("Reason").fill("Ticket 4711: the customer asked for help");
  if (access === "write") await page.getByLabel("Access", { exact: true }).selectOption("write");
  await page.getByRole("button", { name: "Ask for support access" }).click();
  await page.getByRole("status", { name: "Support access" }).waitFor();
}

/** tenantIdOnPage: the id of the tenant the page shows (from its URL). */
async function tenantIdOnPage(): Promise<string> {
  return new URL(page.url()).pathname.split("/").pop() ?? "";
}
