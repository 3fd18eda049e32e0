import { afterEach, beforeEach, expect, it } from "vitest";
import { MODULES } from "../src/app.js";
import { type CliIo, runCli as run } from "../src/cli/index.js";
import { type SeededPlane, seedPlane } from "../src/testing/fixtures.js";
import { createTestApp, describeEachEngine, type TestApp } from "../src/testing/harness.js";
import { probeModule } from "../src/testing/probe-module.js";
import { runDueJobs, WebhookReceiver } from "../src/testing/webhook-receiver.js";

const runCli = (argv: string[], io: CliIo) => run(argv, io, [...MODULES, probeModule]);

// The operator's way back after a receiver outage: `baseplate webhooks recover <endpointId>
// --since TIME` puts every failed message of the endpoint since then back in line, recorded as
// `webhook_endpoint.recovered` by the operating-system user.

describeEachEngine("baseplate CLI: webhooks recover", (engine) => {
  let t: TestApp;
  let p: SeededPlane;
  let receiver: WebhookReceiver;
  let stdout: string[];
  let stderr: string[];
  let io: CliIo;

  beforeEach(async () => {
    const env = { BASEPLATE_WEBHOOKS_ALLOW_PRIVATE_TARGETS: "true" };
    t = await createTestApp(engine, { plane: true, env });
    p = await seedPlane(t);
    receiver = new WebhookReceiver();
    await receiver.listen();
    stdout = [];
    stderr = [];
    io = {
      out: (line) => stdout.push(line),
      err: (line) => stderr.push(line),
      env: {
        ...t.database.env,
        ...env,
        NODE_ENV: "test",
        BASEPLATE_PASSWORD_PROFILE: "test",
        BASEPLATE_LOG_LEVEL: "silent",
      },
      onSignal: () => undefined,
    };
  });
  afterEach(async () => {
    await receiver.close();
    await t.close();
  });

  it("resends the failed messages since a time, and refuses bad input", async () => {
    const auth = { authorization: `Bearer ${p.a.secretKey}` };
    const created = await t.inject({
      method: "POST",
      url: "/v1/webhooks/endpoints",
      headers: auth,
      payload: { url: `${receiver.url}/hook`, eventTypes: ["tenant.*"] },
    });
    const endpointId = created.json().id as string;
    receiver.answer = () => ({ status: 410 });
    const since = Date.now();
    await t.inject({ method: "POST", url: "/v1/tenants", headers: auth, payload: { name: "Acme" } });
    await runDueJobs(t);
    await t.inject({
      method: "PATCH",
      url: `/v1/webhooks/endpoints/${endpointId}`,
      headers: auth,
      payload: { enabled: true },
    });

    expect(await runCli(["webhooks", "recover", endpointId], io)).toBe(2);
    expect(await runCli(["webhooks", "recover", "whe_nope", "--since", String(since)], io)).toBe(1);
    expect(await runCli(["webhooks", "recover", endpointId, "--since", new Date(since).toISOString()], io)).toBe(0);
    expect(stdout.join("\n")).toContain("1 failed message(s)");
    receiver.answer = () => ({ status: 200 });
    await runDueJobs(t);
    expect(receiver.received).toHaveLength(2);
    const messages = await t.inject({
      method: "GET",
      url: `/v1/webhooks/endpoints/${endpointId}/messages`,
      headers: auth,
    });
    expect(messages.json().data[0]).toMatchObject({ status: "succeeded" });
    const events = await t.inject({ method: "GET", url: "/v1/events?types=webhook_endpoint.recovered", headers: auth });
    expect(events.json().data).toMatchObject([{ data: { recovered: 1 } }]);
    // --json: the same answer for scripts (nothing failed since: nothing to recover).
    stdout.length = 0;
    const args = ["webhooks", "recover", endpointId, "--since", new Date(since).toISOString(), "--json"];
    expect(await runCli(args, io)).toBe(0);
    expect(JSON.parse(stdout.join("\n"))).toMatchObject({ endpointId, recovered: 0 });
  });
});
