import { createServer } from "node:net";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { TargetRefusedError } from "../../platform/ssrf.js";
import { type SeededPlane, seedPlane } from "../../testing/fixtures.js";
import { captureLogs, createTestApp, describeEachEngine, type TestApp } from "../../testing/harness.js";
import { WebhookReceiver } from "../../testing/webhook-receiver.js";
import { failureOf } from "./internal/sender.js";

// Logs that explain: an operator reading the log of a failed delivery learns which endpoint, which
// host, what went wrong (the receiver's status, or a timeout, a refused connection, an SSRF
// refusal) and which attempt it was, without a stack trace for an expected failure and without
// the URL's path or query (which may hold a token). Deliveries run through the real job worker.

type Line = Record<string, unknown>;

describeEachEngine("webhook delivery logs", (engine) => {
  let t: TestApp;
  let p: SeededPlane;
  let lines: Line[];
  let receiver: WebhookReceiver;

  beforeEach(async () => {
    const capture = captureLogs("info");
    lines = capture.lines;
    t = await createTestApp(engine, {
      plane: true,
      logger: capture.logger,
      env: {
        BASEPLATE_WEBHOOKS_ALLOW_PRIVATE_TARGETS: "true",
        BASEPLATE_WEBHOOKS_TIMEOUT_MS: "300",
        BASEPLATE_WEBHOOKS_RETRY_SCHEDULE: "1s",
      },
    });
    p = await seedPlane(t);
    tenants = 0;
    receiver = new WebhookReceiver();
    await receiver.listen();
  });
  afterEach(async () => {
    await t.app.worker.stop(1_000);
    await receiver.close();
    await t.close();
  });

  let tenants = 0;
  async function deliverTo(url: string): Promise<string> {
    const res = await t.inject({
      method: "POST",
      url: "/v1/webhooks/endpoints",
      headers: { authorization: `Bearer ${p.a.secretKey}` },
      payload: { url, eventTypes: ["tenant.*"] },
    });
    expect(res.statusCode, res.body).toBe(201);
    const body = res.json() as { id?: string; endpoint?: { id: string } };
    const endpointId = (body.endpoint?.id ?? body.id) as string;
    const created = await t.inject({
      method: "POST",
      url: "/v1/tenants",
      headers: { authorization: `Bearer ${p.a.secretKey}` },
      payload: { name: `Acme ${++tenants}` },
    });
    expect(created.statusCode).toBe(201);
    if (tenants === 1) t.app.worker.start();
    return endpointId;
  }

  async function failureLine(endpointId: string): Promise<Line> {
    for (let i = 0; i < 200; i++) {
      const line = lines.find((l) => l.endpointId === endpointId && l.attempt === 1);
      if (line) return line;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    throw new Error(`no log line for a failed delivery to ${endpointId}:\n${lines.map((l) => l.msg).join("\n")}`);
  }

  it("a receiver's error status: endpoint, host, status and attempt; no stack, no path or query", async () => {
    receiver.answer = () => ({ status: 503, body: "down" });
    const endpointId = await deliverTo(`${receiver.url}/hook?token=sekrit`);
    const line = await failureLine(endpointId);
    expect(line).toMatchObject({
      level: "warn",
      endpointId,
      host: new URL(receiver.url).host,
      statusCode: 503,
      cause: "http_status",
      attempt: 1,
    });
    expect(line.err).toBeUndefined();
    expect(JSON.stringify(line)).not.toContain("sekrit");
    expect(JSON.stringify(line)).not.toContain("/hook");
  });

  it("a refused connection and a timeout say so, without a status", async () => {
    // A port nothing listens on: take one, then free it.
    const port = await new Promise<number>((resolve) => {
      const server = createServer();
      server.listen(0, "127.0.0.1", () => {
        const address = server.address() as { port: number };
        server.close(() => resolve(address.port));
      });
    });
    const refused = await deliverTo(`http://127.0.0.1:${port}/hook`);
    expect(await failureLine(refused)).toMatchObject({ endpointId: refused, cause: "refused", attempt: 1 });
    expect((await failureLine(refused)).statusCode).toBeUndefined();

    receiver.answer = () => ({ status: 200, delayMs: 2_000 });
    const slow = await deliverTo(`${receiver.url}/slow`);
    const line = await failureLine(slow);
    expect(line).toMatchObject({ endpointId: slow, cause: "timeout", attempt: 1 });
    expect(line.err).toBeUndefined();
  });
});

describe("failureOf", () => {
  it("names the cause of an attempt that got no response", () => {
    const coded = (code: string, message = code) => Object.assign(new Error(message), { code });
    expect(failureOf(coded("ENOTFOUND"), false)).toBe("dns");
    expect(failureOf(coded("EAI_AGAIN"), false)).toBe("dns");
    expect(failureOf(coded("ECONNREFUSED"), false)).toBe("refused");
    expect(failureOf(coded("ECONNRESET"), false)).toBe("reset");
    expect(failureOf(new Error("timed out after 300 ms"), false)).toBe("timeout");
    expect(failureOf(coded("CERT_HAS_EXPIRED"), false)).toBe("tls");
    expect(failureOf(new TargetRefusedError("10.0.0.1"), true)).toBe("ssrf_blocked");
    expect(failureOf(new Error("delivery aborted"), false)).toBe("aborted");
    expect(failureOf(new Error("something else"), false)).toBe("error");
  });
});
