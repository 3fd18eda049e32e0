import { afterEach, beforeEach, expect, it } from "vitest";
import { TestClock } from "../../platform/clock.js";
import { type SeededPlane, seedPlane, TEST_PASSWORD } from "../../testing/fixtures.js";
import { createTestApp, describeEachEngine, type TestApp } from "../../testing/harness.js";
import { linkToken, SmtpReceiver } from "../../testing/smtp-receiver.js";
import { runDueJobs } from "../../testing/webhook-receiver.js";
import { identityModule } from "./index.js";

// The mailed flows end to end: a real SMTP server on loopback receives every mail, the test reads
// it, follows its link through the HTTP API, and tries what an attacker would (reuse, expiry,
// another surface, unknown addresses, rolled-back writes, an SMTP outage, hostile values).

const APP = "https://app.acme.test";
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describeEachEngine("Mail: flows over a real SMTP server", (engine) => {
  let t: TestApp;
  let p: SeededPlane;
  let clock: TestClock;
  let smtp: SmtpReceiver;

  beforeEach(async () => {
    smtp = new SmtpReceiver();
    await smtp.listen();
    clock = new TestClock();
    t = await createTestApp(engine, {
      plane: true,
      clock,
      env: { BASEPLATE_SMTP_URL: smtp.url, BASEPLATE_MAIL_FROM: "Acme <no-reply@acme.test>" },
    });
    p = await seedPlane(t);
    await settings(p.a.surfaceId, { email: { appUrl: APP, productName: "Acme" }, signIn: { magicLink: true } });
  });
  afterEach(async () => {
    await t?.close();
    await smtp?.close();
  });

  async function settings(surfaceId: string, patch: object) {
    const res = await t.inject({
      method: "PATCH",
      url: `/v1/surfaces/${surfaceId}/auth-settings`,
      headers: bearer(p.operatorToken),
      payload: patch,
    });
    expect(res.statusCode, res.body).toBe(200);
  }
  const post = (url: string, payload: object, headers: Record<string, string> = {}) =>
    t.inject({ method: "POST", url, payload, headers });
  async function createUser(email: string, name?: string) {
    const res = await post(
      "/v1/users",
      { email, password: TEST_PASSWORD, ...(name ? { name } : {}) },
      bearer(p.a.secretKey),
    );
    expect(res.statusCode, res.body).toBe(201);
    return res.json() as { id: string; email: string };
  }
  async function secondSurface(): Promise<string> {
    const surface = await p.tenancy.surfaces.createSurface(p.operatorCtx, p.a.id, {
      name: "Other",
      kind: "web",
      allowedOrigins: [],
      scopeCeiling: ["*"],
      selfSignup: false,
    });
    await settings(surface.id, { email: { appUrl: "https://other.acme.test" }, signIn: { magicLink: true } });
    return surface.id;
  }
  /** deliver runs the due send jobs; every mail they sent has reached the receiver when it returns. */
  async function deliver(): Promise<number> {
    return runDueJobs(t);
  }
  async function outbox() {
    const res = await t.inject({
      method: "GET",
      url: `/v1/environments/${p.a.id}/mails?limit=100`,
      headers: bearer(p.operatorToken),
    });
    expect(res.statusCode, res.body).toBe(200);
    return res.json().data as Array<Record<string, unknown>>;
  }

  it("password reset by mailed link: uniform answers, escaped values, single use, surface-bound, expiring", async () => {
    const user = await createUser("ada@example.com", "<script>alert(1)</script>");
    const known = await post("/v1/auth/password-reset/request", { surfaceId: p.a.surfaceId, email: "ADA@example.com" });
    const unknown = await post("/v1/auth/password-reset/request", {
      surfaceId: p.a.surfaceId,
      email: "nobody@example.com",
    });
    expect(known.statusCode).toBe(202);
    expect(unknown.statusCode).toBe(202);
    expect(unknown.body).toBe(known.body);
    expect(await deliver()).toBe(1);
    expect(smtp.received).toHaveLength(1);
    const mail = smtp.to("ada@example.com")[0];
    expect(mail?.subject).toBe("Reset your Acme password");
    expect(mail?.from?.text).toContain("no-reply@acme.test");
    expect(mail?.messageId).toMatch(/^<mail_.+@baseplate>$/);
    expect(mail?.html).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
    expect(mail?.html).not.toContain("<script>");
    expect(mail?.text).toContain(`${APP}/auth/reset-password?token=`);
    const token = linkToken(mail, "reset-password");

    // Another surface of the same environment cannot redeem it.
    const other = await secondSurface();
    const cross = await post("/v1/auth/password-reset", {
      surfaceId: other,
      token,
      newPassword: "a brand new passphrase",
    });
    expect(cross.statusCode).toBe(400);
    expect(cross.json().code).toBe("invalid_reset_token");
    const done = await post("/v1/auth/password-reset", {
      surfaceId: p.a.surfaceId,
      token,
      newPassword: "a brand new passphrase",
    });
    expect(done.statusCode, done.body).toBe(200);
    const again = await post("/v1/auth/password-reset", {
      surfaceId: p.a.surfaceId,
      token,
      newPassword: "yet another passphrase",
    });
    expect(again.json().code).toBe("invalid_reset_token");
    const login = await post("/v1/auth/login", {
      surfaceId: p.a.surfaceId,
      email: user.email,
      password: "a brand new passphrase",
    });
    expect(login.statusCode).toBe(201);
    expect(login.json().user.emailVerified).toBe(true);

    // Sent: the outbox keeps the metadata, not the link.
    const [sent] = await outbox();
    expect(sent).toMatchObject({ status: "sent", attempts: 1, template: "password_reset", text: null, html: null });

    // An expired link is refused.
    await post("/v1/auth/password-reset/request", { surfaceId: p.a.surfaceId, email: user.email });
    await deliver();
    const late = linkToken(smtp.received[1], "reset-password");
    clock.advance(61 * 60_000);
    const expired = await post("/v1/auth/password-reset", {
      surfaceId: p.a.surfaceId,
      token: late,
      newPassword: "a brand new passphrase 2",
    });
    expect(expired.json().code).toBe("invalid_reset_token");

    // The backend can have the link mailed instead of receiving the token.
    const backend = await post(`/v1/users/${user.id}/password-reset-tokens`, { send: true }, bearer(p.a.secretKey));
    expect(backend.statusCode, backend.body).toBe(201);
    expect(backend.json()).toMatchObject({ token: null, sent: true });
    await deliver();
    expect(smtp.to(user.email)).toHaveLength(3);
  });

  it("verification: mailed on sign-up, required for password login where the surface says so", async () => {
    const signup = await post("/v1/auth/signup", {
      surfaceId: p.a.surfaceId,
      email: "bob@example.com",
      password: TEST_PASSWORD,
    });
    expect(signup.statusCode, signup.body).toBe(201);
    expect(signup.json().user.emailVerified).toBe(false);
    await deliver();
    const first = linkToken(smtp.to("bob@example.com")[0], "verify-email");

    await settings(p.a.surfaceId, { email: { requireVerification: true } });
    const refused = await post("/v1/auth/login", {
      surfaceId: p.a.surfaceId,
      email: "bob@example.com",
      password: TEST_PASSWORD,
    });
    expect(refused.statusCode).toBe(403);
    expect(refused.json().code).toBe("email_not_verified");
    // A wrong password learns nothing and gets no mail.
    const wrong = await post("/v1/auth/login", {
      surfaceId: p.a.surfaceId,
      email: "bob@example.com",
      password: "wrong password!",
    });
    expect(wrong.statusCode).toBe(401);
    await deliver();
    const mails = smtp.to("bob@example.com");
    expect(mails).toHaveLength(2);
    const second = linkToken(mails[1], "verify-email");

    // The newer link replaced the first one.
    const old = await post("/v1/auth/email-verification/confirm", { surfaceId: p.a.surfaceId, token: first });
    expect(old.json().code).toBe("invalid_link");
    const ok = await post("/v1/auth/email-verification/confirm", { surfaceId: p.a.surfaceId, token: second });
    expect(ok.statusCode, ok.body).toBe(200);
    const reused = await post("/v1/auth/email-verification/confirm", { surfaceId: p.a.surfaceId, token: second });
    expect(reused.statusCode).toBe(400);
    const login = await post("/v1/auth/login", {
      surfaceId: p.a.surfaceId,
      email: "bob@example.com",
      password: TEST_PASSWORD,
    });
    expect(login.statusCode, login.body).toBe(201);
    expect(login.json().user.emailVerified).toBe(true);

    // Asking again for a verified or unknown address answers alike and mails nothing.
    const a = await post("/v1/auth/email-verification/request", { surfaceId: p.a.surfaceId, email: "bob@example.com" });
    const b = await post("/v1/auth/email-verification/request", {
      surfaceId: p.a.surfaceId,
      email: "ghost@example.com",
    });
    expect([a.statusCode, b.statusCode]).toEqual([202, 202]);
    expect(a.body).toBe(b.body);
    // The backend can trigger it for an unverified user.
    const carol = await createUser("carol@example.com");
    const sent = await post(`/v1/users/${carol.id}/email-verification`, {}, bearer(p.a.secretKey));
    expect(sent.json()).toEqual({ sent: true, reason: null });
    expect(await deliver()).toBe(1);
    expect(smtp.to("carol@example.com")).toHaveLength(1);
    const events = await t.inject({
      method: "GET",
      url: "/v1/events?types=user.email_verified",
      headers: bearer(p.a.secretKey),
    });
    expect(events.json().data).toHaveLength(1);
  });

  it("magic link: one sign-in per link, on its surface, within 15 minutes", async () => {
    await createUser("dee@example.com");
    const unknown = await post("/v1/auth/magic-link", { surfaceId: p.a.surfaceId, email: "nobody@example.com" });
    const known = await post("/v1/auth/magic-link", { surfaceId: p.a.surfaceId, email: "dee@example.com" });
    expect([unknown.statusCode, known.statusCode]).toEqual([202, 202]);
    expect(unknown.body).toBe(known.body);
    expect(await deliver()).toBe(1);
    const token = linkToken(smtp.to("dee@example.com")[0], "magic-link");

    const other = await secondSurface();
    const cross = await post("/v1/auth/magic-link/redeem", { surfaceId: other, token });
    expect(cross.statusCode).toBe(400);
    const otherEnv = await post("/v1/auth/magic-link/redeem", { surfaceId: p.b.surfaceId, token });
    expect(otherEnv.statusCode).toBe(400);
    const session = await post("/v1/auth/magic-link/redeem", { surfaceId: p.a.surfaceId, token });
    expect(session.statusCode, session.body).toBe(201);
    expect(session.json().session.authMethod).toBe("magic_link");
    expect(session.json().user.emailVerified).toBe(true);
    const me = await t.inject({ method: "GET", url: "/v1/auth/me", headers: bearer(session.json().token) });
    expect(me.json().emailVerifiedAt).toBe(new Date(clock.now()).toISOString());
    const reused = await post("/v1/auth/magic-link/redeem", { surfaceId: p.a.surfaceId, token });
    expect(reused.json().code).toBe("invalid_link");

    await post("/v1/auth/magic-link", { surfaceId: p.a.surfaceId, email: "dee@example.com" });
    await deliver();
    const late = linkToken(smtp.to("dee@example.com")[1], "magic-link");
    clock.advance(15 * 60_000 + 1);
    expect((await post("/v1/auth/magic-link/redeem", { surfaceId: p.a.surfaceId, token: late })).statusCode).toBe(400);

    await settings(p.a.surfaceId, { signIn: { magicLink: false } });
    const off = await post("/v1/auth/magic-link", { surfaceId: p.a.surfaceId, email: "dee@example.com" });
    expect(off.json().code).toBe("magic_link_disabled");
  });

  it("a surface with password sign-in turned off takes no password: login and sign-up refused alike", async () => {
    await createUser("pat@example.com");
    const other = await secondSurface();
    const login = { surfaceId: other, email: "pat@example.com", password: TEST_PASSWORD };
    expect((await post("/v1/auth/login", login)).statusCode).toBe(201);
    await settings(other, { signIn: { password: false } });
    for (const attempt of [login, { ...login, email: "nobody@example.com" }, { ...login, password: "wrong" }]) {
      const refused = await post("/v1/auth/login", attempt);
      expect(refused.statusCode).toBe(403);
      expect(refused.json().code).toBe("password_sign_in_disabled");
    }
    await p.tenancy.surfaces.updateSurface(p.operatorCtx, other, { selfSignup: true });
    const signup = await post("/v1/auth/signup", {
      surfaceId: other,
      email: "new@example.com",
      password: TEST_PASSWORD,
    });
    expect(signup.json().code).toBe("password_sign_in_disabled");
    // The magic link still signs in there.
    expect((await post("/v1/auth/magic-link", { surfaceId: other, email: "pat@example.com" })).statusCode).toBe(202);
    await settings(other, { signIn: { password: true } });
    expect((await post("/v1/auth/login", login)).statusCode).toBe(201);
  });

  it("change of address: confirmation to the new one, notice to the old one, 409 when taken meanwhile", async () => {
    const user = await createUser("eve@example.com", "Eve\r\nBcc: victim@example.com");
    const login = await post("/v1/auth/login", {
      surfaceId: p.a.surfaceId,
      email: user.email,
      password: TEST_PASSWORD,
    });
    const session = bearer(login.json().token);
    const wrong = await post(
      "/v1/auth/email-change",
      { newEmail: "eve@new.example.com", password: "not it at all" },
      session,
    );
    expect(wrong.json().code).toBe("current_password_wrong");
    // A subject override using the hostile name: the header cannot be split.
    const patch = await t.inject({
      method: "PATCH",
      url: `/v1/surfaces/${p.a.surfaceId}/mail-templates`,
      headers: bearer(p.a.secretKey),
      payload: {
        templates: {
          email_change_notice: {
            subject: "Hello {{name}}",
            text: "Address change to {{newEmail}}.",
            html: "<p>{{name}}</p>",
          },
        },
      },
    });
    expect(patch.statusCode, patch.body).toBe(200);
    const asked = await post(
      "/v1/auth/email-change",
      { newEmail: "eve@new.example.com", password: TEST_PASSWORD },
      session,
    );
    expect(asked.statusCode, asked.body).toBe(202);
    expect(await deliver()).toBe(2);
    const notice = smtp.to("eve@example.com")[0];
    expect(notice?.subject).toBe("Hello Eve Bcc: victim@example.com");
    expect(notice?.headers.has("bcc")).toBe(false);
    expect(smtp.received.some((m) => JSON.stringify(m.to).includes("victim"))).toBe(false);
    const token = linkToken(smtp.to("eve@new.example.com")[0], "confirm-email-change");
    const confirmed = await post("/v1/auth/email-change/confirm", { surfaceId: p.a.surfaceId, token });
    expect(confirmed.statusCode, confirmed.body).toBe(200);
    expect(confirmed.json()).toMatchObject({ email: "eve@new.example.com", emailVerified: true });
    expect((await post("/v1/auth/email-change/confirm", { surfaceId: p.a.surfaceId, token })).statusCode).toBe(400);
    const events = await t.inject({
      method: "GET",
      url: "/v1/events?types=user.email_changed",
      headers: bearer(p.a.secretKey),
    });
    expect(events.json().data).toHaveLength(1);

    // Taken between the request and the confirmation.
    await post("/v1/auth/email-change", { newEmail: "frank@example.com", password: TEST_PASSWORD }, session);
    await deliver();
    const pending = linkToken(smtp.to("frank@example.com")[0], "confirm-email-change");
    await createUser("frank@example.com");
    const taken = await post("/v1/auth/email-change/confirm", { surfaceId: p.a.surfaceId, token: pending });
    expect(taken.statusCode).toBe(409);
    expect(taken.json().code).toBe("email_taken");
  });

  it("invitations mail their accept link in the invitation's transaction", async () => {
    const tenant = await post("/v1/tenants", { name: "Globex" }, bearer(p.a.secretKey));
    const invited = await post(
      `/v1/tenants/${tenant.json().id}/invitations`,
      { email: "gus@example.com", roles: ["member"] },
      bearer(p.a.secretKey),
    );
    expect(invited.statusCode, invited.body).toBe(201);
    expect(invited.json().emailed).toBe(true);
    await deliver();
    const mail = smtp.to("gus@example.com")[0];
    expect(mail?.subject).toBe("You are invited to join Globex on Acme");
    const accepted = await post("/v1/invitations/accept", { token: linkToken(mail, "accept-invitation") });
    expect(accepted.statusCode, accepted.body).toBe(201);
  });

  it("a rolled-back write sends nothing; an SMTP outage delays a mail, which is then delivered once", async () => {
    const identity = t.app.service(identityModule);
    const surface = { id: p.a.surfaceId, name: "Portal", environmentId: p.a.id };
    await expect(
      t.app.db.write({}, async (tx) => {
        await identity.mail.queue(tx, { surface, to: "hal@example.com", template: "email_change_notice", vars: {} });
        throw new Error("the change failed after its mail was queued");
      }),
    ).rejects.toThrow("the change failed");
    expect(await deliver()).toBe(0);
    expect(await outbox()).toHaveLength(0);

    await createUser("ivy@example.com");
    await smtp.close();
    await post("/v1/auth/password-reset/request", { surfaceId: p.a.surfaceId, email: "ivy@example.com" });
    expect(await deliver()).toBe(1);
    const [waiting] = await outbox();
    expect(waiting).toMatchObject({ status: "queued", attempts: 1, redacted: true, text: null });
    expect(waiting?.lastError).toEqual(expect.any(String));
    await smtp.listen();
    expect(await deliver()).toBe(0); // not due before its backoff
    clock.advance(5_000);
    expect(await deliver()).toBe(1);
    clock.advance(3_600_000);
    await deliver();
    expect(smtp.to("ivy@example.com")).toHaveLength(1);
    expect((await outbox())[0]).toMatchObject({ status: "sent", attempts: 2, lastError: null });
  });

  it("templates: overrides are checked when saved and rendered safely", async () => {
    const patch = (templates: object, key = p.a.secretKey, surfaceId = p.a.surfaceId) =>
      t.inject({
        method: "PATCH",
        url: `/v1/surfaces/${surfaceId}/mail-templates`,
        headers: bearer(key),
        payload: { templates },
      });
    const base = { subject: "Sign in to {{productName}}", text: "{{link}}", html: '<a href="{{link}}">in</a>' };
    for (const bad of [
      { ...base, text: "{{link}} {{password}}" },
      { ...base, html: "{{ constructor.constructor('x')() }}" },
      { ...base, subject: "Line\r\nBcc: x@example.com" },
      { ...base, text: "{{{link}}}" },
    ]) {
      const res = await patch({ magic_link: bad });
      expect(res.statusCode, JSON.stringify(bad)).toBe(422);
    }
    expect((await patch({ magic_link: { ...base, html: "x".repeat(100_001) } })).statusCode).toBe(400);
    expect((await patch({ nope: base })).statusCode).toBe(400);
    // Another environment's surface answers 404.
    expect((await patch({ magic_link: base }, p.b.secretKey)).statusCode).toBe(404);

    expect((await patch({ magic_link: { ...base, text: "Go: {{ link }}" } })).statusCode).toBe(200);
    const read = await t.inject({
      method: "GET",
      url: `/v1/surfaces/${p.a.surfaceId}/mail-templates`,
      headers: bearer(p.a.secretKey),
    });
    expect(read.json().templates.find((x: { template: string }) => x.template === "magic_link")).toMatchObject({
      custom: true,
    });
    await createUser("jo@example.com");
    await post("/v1/auth/magic-link", { surfaceId: p.a.surfaceId, email: "jo@example.com" });
    await deliver();
    const mail = smtp.to("jo@example.com")[0];
    expect(mail?.subject).toBe("Sign in to Acme");
    expect(mail?.text?.trim()).toMatch(new RegExp(`^Go: ${APP}/auth/magic-link\\?token=bp_ml_`));
    expect((await patch({ magic_link: null })).json().templates[2].custom).toBe(false);
  });
});
