import { existsSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { type Browser, type CDPSession, chromium, type Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type SeededPlane, seedPlane, TEST_PASSWORD } from "../../testing/fixtures.js";
import { createTestApp, describeEachEngine, type TestApp } from "../../testing/harness.js";

// Passkey ceremonies in a real Chromium with its virtual authenticator (CDP WebAuthn domain): the
// page runs navigator.credentials.create/get with the options the plane returned, and the test
// relays the credential JSON to the plane. Skipped only off CI when Chromium is not installed.

const CHROMIUM = "/usr/bin/chromium";
const runs = existsSync(CHROMIUM) || Boolean(process.env.CI);
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** The page's side of each ceremony (run in Chromium, so written as source text). */
const CREATE = `async (json) => {
  const publicKey = PublicKeyCredential.parseCreationOptionsFromJSON(json);
  return (await navigator.credentials.create({ publicKey })).toJSON();
}`;
const GET = `async (json) => {
  const publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(json);
  return (await navigator.credentials.get({ publicKey })).toJSON();
}`;
const inPage = (fn: string, arg: unknown) => `(${fn})(${JSON.stringify(arg)})`;

let browser: Browser;
let page: Page;
let server: Server;
let origin: string;

describe.skipIf(!runs)("Passkeys in Chromium", () => {
  beforeAll(async () => {
    server = createServer((_req, res) => {
      res.writeHead(200, { "content-type": "text/html" }).end("<!doctype html><title>passkeys</title><p>ok</p>");
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    origin = `http://localhost:${(server.address() as AddressInfo).port}`;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"], headless: true });
    page = await browser.newPage();
    await page.goto(`${origin}/`);
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await new Promise((resolve) => server?.close(resolve));
  });

  describeEachEngine("registration and passwordless sign-in", (engine) => {
    let t: TestApp;
    let p: SeededPlane;
    let cdp: CDPSession;
    let authenticatorId: string;
    beforeEach(async () => {
      t = await createTestApp(engine, { plane: true });
      p = await seedPlane(t);
      const res = await t.inject({
        method: "PATCH",
        url: `/v1/surfaces/${p.a.surfaceId}/auth-settings`,
        headers: bearer(p.a.secretKey),
        payload: { passkeys: { enabled: true, rpId: "localhost", rpName: "Portal", origins: [origin] } },
      });
      expect(res.statusCode, res.body).toBe(200);
      cdp = await page.context().newCDPSession(page);
      await cdp.send("WebAuthn.enable");
      ({ authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
        options: {
          protocol: "ctap2",
          transport: "internal",
          hasResidentKey: true,
          hasUserVerification: true,
          isUserVerified: true,
          automaticPresenceSimulation: true,
        },
      }));
    });
    afterEach(async () => {
      await cdp?.send("WebAuthn.removeVirtualAuthenticator", { authenticatorId }).catch(() => undefined);
      await cdp?.detach().catch(() => undefined);
      await t?.close();
    });

    it("registers a passkey made by the browser and signs in with it (discoverable, aal 2)", async () => {
      const created = await t.inject({
        method: "POST",
        url: "/v1/users",
        headers: bearer(p.a.secretKey),
        payload: { email: "browser@example.com", password: TEST_PASSWORD },
      });
      expect(created.statusCode, created.body).toBe(201);
      const login = await t.inject({
        method: "POST",
        url: "/v1/auth/login",
        payload: { surfaceId: p.a.surfaceId, email: "browser@example.com", password: TEST_PASSWORD },
      });
      const { token } = login.json();

      const options = await t.inject({
        method: "POST",
        url: "/v1/auth/passkeys/registration/options",
        headers: bearer(token),
      });
      expect(options.statusCode, options.body).toBe(200);
      const credential = (await page.evaluate(inPage(CREATE, options.json()))) as { id: string };
      const registered = await t.inject({
        method: "POST",
        url: "/v1/auth/passkeys/registration/verify",
        headers: bearer(token),
        payload: { response: credential, name: "Chromium" },
      });
      expect(registered.statusCode, registered.body).toBe(201);
      const passkey = registered.json();
      expect(passkey).toMatchObject({ rpId: "localhost", name: "Chromium", credentialId: credential.id });
      const held = await cdp.send("WebAuthn.getCredentials", { authenticatorId });
      expect(held.credentials).toHaveLength(1);
      expect(held.credentials[0]).toMatchObject({ isResidentCredential: true, rpId: "localhost" });

      // Passwordless: no address given, the authenticator picks its discoverable passkey.
      const start = await t.inject({
        method: "POST",
        url: "/v1/auth/passkeys/login/options",
        payload: { surfaceId: p.a.surfaceId },
      });
      expect(start.statusCode, start.body).toBe(200);
      const { challengeId, options: request } = start.json();
      const assertion = await page.evaluate(inPage(GET, request));
      const signedIn = await t.inject({
        method: "POST",
        url: "/v1/auth/passkeys/login/verify",
        payload: { surfaceId: p.a.surfaceId, challengeId, response: assertion },
      });
      expect(signedIn.statusCode, signedIn.body).toBe(201);
      expect(signedIn.json()).toMatchObject({
        user: { id: created.json().id },
        session: { authMethod: "passkey", aal: 2 },
      });

      // The same assertion again: the challenge is spent.
      const replay = await t.inject({
        method: "POST",
        url: "/v1/auth/passkeys/login/verify",
        payload: { surfaceId: p.a.surfaceId, challengeId, response: assertion },
      });
      expect(replay.json()).toMatchObject({ status: 400, code: "passkey_challenge_invalid" });
    }, 60_000);
  });
});
