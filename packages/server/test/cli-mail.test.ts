import { afterEach, beforeEach, expect, it } from "vitest";
import { MODULES } from "../src/app.js";
import { type CliIo, runCli as run } from "../src/cli/index.js";
import { type SeededPlane, seedPlane, TEST_PASSWORD } from "../src/testing/fixtures.js";
import { createTestApp, describeEachEngine, type TestApp } from "../src/testing/harness.js";
import { probeModule } from "../src/testing/probe-module.js";
import { runDueJobs } from "../src/testing/webhook-receiver.js";

const runCli = (argv: string[], io: CliIo) => run(argv, io, [...MODULES, probeModule]);
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

// Without BASEPLATE_SMTP_URL a mail is not sent: it stays in the outbox as `logged`, and the
// developer reads it (link included) with `baseplate mail list` / `baseplate mail show <id>` or
// the operators' outbox route.

describeEachEngine("baseplate CLI: mail list and show (no SMTP configured)", (engine) => {
  let t: TestApp;
  let p: SeededPlane;
  let stdout: string[];
  let stderr: string[];
  let io: CliIo;

  beforeEach(async () => {
    t = await createTestApp(engine, { plane: true });
    p = await seedPlane(t);
    stdout = [];
    stderr = [];
    io = {
      out: (line) => stdout.push(line),
      err: (line) => stderr.push(line),
      env: { ...t.database.env, NODE_ENV: "test", BASEPLATE_PASSWORD_PROFILE: "test", BASEPLATE_LOG_LEVEL: "silent" },
      onSignal: () => undefined,
    };
  });
  afterEach(async () => t.close());

  it("keeps the mail as logged and shows it, link included", async () => {
    await t.inject({
      method: "PATCH",
      url: `/v1/surfaces/${p.a.surfaceId}/auth-settings`,
      headers: bearer(p.operatorToken),
      payload: { email: { appUrl: "http://localhost:3000/app" } },
    });
    await t.inject({
      method: "POST",
      url: "/v1/users",
      headers: bearer(p.a.secretKey),
      payload: { email: "kim@example.com", password: TEST_PASSWORD },
    });
    const asked = await t.inject({
      method: "POST",
      url: "/v1/auth/password-reset/request",
      payload: { surfaceId: p.a.surfaceId, email: "kim@example.com" },
    });
    expect(asked.statusCode).toBe(202);
    expect(await runDueJobs(t)).toBe(1);

    const listed = await t.inject({
      method: "GET",
      url: `/v1/environments/${p.a.id}/mails`,
      headers: bearer(p.operatorToken),
    });
    const [mail] = listed.json().data;
    expect(mail).toMatchObject({ status: "logged", to: "kim@example.com", redacted: false });
    expect(mail.text).toContain("http://localhost:3000/app/auth/reset-password?token=bp_pr_");
    // Secret keys are no operators: the outbox is not theirs to read.
    const refused = await t.inject({
      method: "GET",
      url: `/v1/environments/${p.a.id}/mails`,
      headers: bearer(p.a.secretKey),
    });
    expect(refused.statusCode).toBe(403);

    expect(await runCli(["mail", "list"], io)).toBe(0);
    expect(stdout.join("\n")).toContain(`${mail.id}`);
    expect(stdout.join("\n")).toContain("logged");
    stdout.length = 0;
    expect(await runCli(["mail", "show", mail.id], io)).toBe(0);
    expect(stdout.join("\n")).toContain("/auth/reset-password?token=bp_pr_");
    expect(await runCli(["mail", "show", "mail_nope"], io)).toBe(1);
    expect(await runCli(["mail", "show"], io)).toBe(2);
    expect(stderr.join("\n")).toContain(`Missing argument <mailId> for "mail show". See "baseplate mail show --help".`);
  });
});
