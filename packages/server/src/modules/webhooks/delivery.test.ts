import { Webhook } from "standardwebhooks";
import { afterEach, beforeEach, expect, it, vi } from "vitest";
import { loadConfig } from "../../config.js";
import { TestClock } from "../../platform/clock.js";
import { type SeededPlane, seedPlane } from "../../testing/fixtures.js";
import { createTestApp, describeEachEngine, type TestApp } from "../../testing/harness.js";
import { type ReceivedDelivery, runDueJobs, WebhookReceiver } from "../../testing/webhook-receiver.js";
import { webhooksModule } from "./index.js";
import { sign } from "./internal/signing.js";
import { MAX_ATTEMPTS, RETRY_SCHEDULE_MS } from "./service/delivery.js";

// Delivery (checklist A2): every delivery verifies with the external `standardwebhooks` library
// (WH-01), retries follow the schedule with the same webhook-id (WH-03, WH-06), 3xx is a failure
// and never followed (WH-07), 410 disables the endpoint and Retry-After is honoured (WH-08),
// a hanging receiver times out (WH-09), rotation sends two signatures (WH-04). A TestClock drives
// the schedule; jobs run through `runDueJobs` (what a worker does, without its timing).

type Json = Record<string, unknown>;

describeEachEngine("webhook delivery", (engine) => {
  let t: TestApp;
  let p: SeededPlane;
  let clock: TestClock;
  let receiver: WebhookReceiver;

  beforeEach(async () => {
    clock = new TestClock();
    t = await createTestApp(engine, {
      plane: true,
      clock,
      env: { BASEPLATE_WEBHOOKS_ALLOW_PRIVATE_TARGETS: "true", BASEPLATE_WEBHOOKS_TIMEOUT_MS: "400" },
    });
    p = await seedPlane(t);
    receiver = new WebhookReceiver();
    await receiver.listen();
  });
  afterEach(async () => {
    await receiver.close();
    await t.close();
  });

  async function call(token: string, method: string, url: string, body?: unknown) {
    const res = await t.inject({
      method: method as "GET",
      url,
      headers: { authorization: `Bearer ${token}` },
      ...(body !== undefined ? { payload: body as object } : {}),
    });
    return { status: res.statusCode, body: (res.body ? JSON.parse(res.body) : {}) as Json };
  }
  const keyA = (method: string, url: string, body?: unknown) => call(p.a.secretKey, method, url, body);

  async function endpoint(body: Json = {}): Promise<{ id: string; secret: string }> {
    // Product and tenant events only: the endpoints' own facts (webhook_endpoint.*) are events too.
    const res = await keyA("POST", "/v1/webhooks/endpoints", {
      url: `${receiver.url}/hook`,
      eventTypes: ["tenant.*", "order.*", "receipt.*"],
      ...body,
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return { id: (res.body as Json).id as string, secret: res.body.secret as string };
  }
  async function tenant(name = "Acme"): Promise<string> {
    const res = await keyA("POST", "/v1/tenants", { name });
    expect(res.status).toBe(201);
    return res.body.id as string;
  }
  /** verify checks a delivery with the standardwebhooks library, at the test clock's time. */
  function verify(d: ReceivedDelivery, secret: string): unknown {
    const spy = vi.spyOn(Date, "now").mockReturnValue(clock.now());
    try {
      return new Webhook(secret).verify(d.body, d.headers as Record<string, string>);
    } finally {
      spy.mockRestore();
    }
  }
  async function messages(endpointId: string): Promise<Json[]> {
    return (await keyA("GET", `/v1/webhooks/endpoints/${endpointId}/messages?limit=100`)).body.data as Json[];
  }
  async function attempts(messageId: string): Promise<Json[]> {
    return (await keyA("GET", `/v1/webhooks/messages/${messageId}/attempts?limit=100`)).body.data as Json[];
  }

  it("WH-01 WH-11: delivers each event once, signed, verifiable with standardwebhooks, body = the event", async () => {
    const { id, secret } = await endpoint({ eventTypes: ["tenant.*"] });
    const tenantId = await tenant();
    expect(await runDueJobs(t)).toBe(1);
    expect(receiver.received).toHaveLength(1);
    const d = receiver.received[0] as ReceivedDelivery;
    const verified = verify(d, secret) as Json;
    expect(verified).toMatchObject({ type: "tenant.created", tenantId, environmentId: p.a.id, specversion: "1.0" });
    const stored = await keyA("GET", `/v1/events/${verified.id}`);
    expect(d.body).toBe(JSON.stringify(stored.body));
    expect(d.headers["webhook-id"]).toMatch(/^msg_/);
    const [message] = await messages(id);
    expect(message).toMatchObject({ id: d.headers["webhook-id"], status: "succeeded", attempts: 1 });
    const log = await attempts(message?.id as string);
    expect(log).toMatchObject([{ attempt: 1, outcome: "succeeded", statusCode: 200, responseBody: "ok" }]);
    // A tampered body does not verify.
    expect(() => verify({ ...d, body: d.body.replace("Acme", "Evil") }, secret)).toThrow();
  });

  it("WH-02: the golden vector, with node:crypto and with standardwebhooks", () => {
    const key = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const expected = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
    expect(sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, '{"test": 2432232314}')).toBe(expected);
    const spy = vi.spyOn(Date, "now").mockReturnValue(1614265330 * 1000);
    try {
      expect(() =>
        new Webhook(key).verify('{"test": 2432232314}', {
          "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
          "webhook-timestamp": "1614265330",
          "webhook-signature": expected,
        }),
      ).not.toThrow();
    } finally {
      spy.mockRestore();
    }
  });

  it("WH-05: secrets are whsec_ + 32 random bytes, unique per endpoint, shown once", async () => {
    const a = await endpoint();
    const b = await endpoint();
    for (const s of [a.secret, b.secret]) {
      expect(s).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
      expect(Buffer.from(s.slice(6), "base64").length).toBe(32);
    }
    expect(a.secret).not.toBe(b.secret);
    const read = await keyA("GET", `/v1/webhooks/endpoints/${a.id}`);
    expect(JSON.stringify(read.body)).not.toContain(a.secret.slice(6));
  });

  it("a failed attempt's retry names the endpoint, the receiver's host and the cause (for the log), never the URL's path", async () => {
    const { id } = await endpoint({ url: `${receiver.url}/hook?token=sekrit` });
    receiver.answer = () => ({ status: 502, body: "bad gateway" });
    const failures: unknown[] = [];
    const fail = t.app.jobs.fail.bind(t.app.jobs);
    vi.spyOn(t.app.jobs, "fail").mockImplementation(async (job, err) => {
      failures.push(err);
      return fail(job, err);
    });
    await tenant();
    expect(await runDueJobs(t)).toBe(1);
    const [err] = failures as Array<{ name: string; details: Json; delayMs: number }>;
    expect(err?.name).toBe("RetryLaterError");
    expect(err?.details).toMatchObject({
      endpointId: id,
      host: new URL(receiver.url).host,
      attempt: 1,
      statusCode: 502,
      cause: "http_status",
      detail: "HTTP 502",
    });
    expect(JSON.stringify(err?.details)).not.toContain("sekrit");
  });

  it("WH-03 WH-06: failures retry on the schedule (± jitter) with the same webhook-id, then stop", async () => {
    const { id, secret } = await endpoint();
    receiver.answer = () => ({ status: 500, body: "boom" });
    await tenant();
    await runDueJobs(t);
    for (let attempt = 1; attempt < MAX_ATTEMPTS; attempt++) {
      const [message] = await messages(id);
      const delay = Date.parse(message?.nextAttemptAt as string) - clock.now();
      const planned = RETRY_SCHEDULE_MS[attempt - 1] as number;
      expect(delay, `delay after attempt ${attempt}`).toBeGreaterThanOrEqual(planned * 0.9 - 1);
      expect(delay).toBeLessThanOrEqual(planned * 1.1 + 1);
      clock.advance(delay - 1);
      expect(await runDueJobs(t), "not due before its time").toBe(0);
      clock.advance(1);
      expect(await runDueJobs(t)).toBe(1);
    }
    expect(receiver.received).toHaveLength(MAX_ATTEMPTS);
    const ids = new Set(receiver.received.map((d) => d.headers["webhook-id"]));
    expect(ids.size).toBe(1);
    const timestamps = new Set(receiver.received.map((d) => d.headers["webhook-timestamp"]));
    expect(timestamps.size).toBe(MAX_ATTEMPTS);
    const signatures = new Set(receiver.received.map((d) => d.headers["webhook-signature"]));
    expect(signatures.size).toBe(MAX_ATTEMPTS);
    expect(() => verify(receiver.received.at(-1) as ReceivedDelivery, secret)).not.toThrow();
    const [message] = await messages(id);
    expect(message).toMatchObject({ status: "failed", attempts: MAX_ATTEMPTS, nextAttemptAt: null });
    expect(await attempts(message?.id as string)).toHaveLength(MAX_ATTEMPTS);
    clock.advance(7 * 86_400_000);
    expect(await runDueJobs(t)).toBe(0);
  });

  it("WH-07 SSRF-05: a 3xx is a failure and its Location is never followed", async () => {
    const { id } = await endpoint();
    receiver.answer = (d) =>
      d.path === "/hook" ? { status: 302, headers: { location: `${receiver.url}/internal` } } : { status: 200 };
    await tenant();
    await runDueJobs(t);
    expect(receiver.received.map((d) => d.path)).toEqual(["/hook"]);
    const [message] = await messages(id);
    expect(message).toMatchObject({ status: "pending", attempts: 1, lastStatusCode: 302 });
  });

  it("WH-08: 410 disables the endpoint at once and records webhook_endpoint.disabled", async () => {
    const { id } = await endpoint();
    receiver.answer = () => ({ status: 410 });
    await tenant();
    await runDueJobs(t);
    const read = await keyA("GET", `/v1/webhooks/endpoints/${id}`);
    expect(read.body).toMatchObject({ enabled: false, disabledReason: "gone" });
    const [message] = await messages(id);
    expect(message).toMatchObject({ status: "failed", attempts: 1 });
    const events = await keyA("GET", "/v1/events?types=webhook_endpoint.disabled");
    expect(events.body.data).toMatchObject([{ subject: `webhook_endpoint/${id}`, data: { reason: "gone" } }]);
    // A disabled endpoint gets no new messages.
    await tenant("Other");
    expect(await messages(id)).toHaveLength(1);
  });

  it("WH-08: Retry-After (429) pushes the next attempt back at least that long", async () => {
    const { id } = await endpoint();
    receiver.answer = () => ({ status: 429, headers: { "retry-after": "3600" } });
    await tenant();
    await runDueJobs(t);
    const [message] = await messages(id);
    expect(Date.parse(message?.nextAttemptAt as string) - clock.now()).toBeGreaterThanOrEqual(3_600_000);
    clock.advance(3_599_000);
    expect(await runDueJobs(t)).toBe(0);
  });

  it("Retry-After on 429 or 503 can also bring the next attempt forward (not before 1 s); elsewhere it only lengthens", async () => {
    const { id } = await endpoint();
    await tenant();
    // The schedule's first retry is 5 min after attempt 2; the receiver asks for 2 s instead.
    receiver.answer = () => ({ status: 500 });
    await runDueJobs(t);
    clock.advance(6_000);
    receiver.answer = () => ({ status: 503, headers: { "retry-after": "2" } });
    expect(await runDueJobs(t)).toBe(1);
    let [message] = await messages(id);
    expect(Date.parse(message?.nextAttemptAt as string) - clock.now()).toBe(2_000);
    clock.advance(2_000);
    // "0" is held to the 1 s floor; a 500 with Retry-After keeps the longer schedule.
    receiver.answer = () => ({ status: 429, headers: { "retry-after": "0" } });
    expect(await runDueJobs(t)).toBe(1);
    [message] = await messages(id);
    expect(Date.parse(message?.nextAttemptAt as string) - clock.now()).toBe(1_000);
    clock.advance(1_000);
    receiver.answer = () => ({ status: 500, headers: { "retry-after": "1" } });
    expect(await runDueJobs(t)).toBe(1);
    [message] = await messages(id);
    expect(Date.parse(message?.nextAttemptAt as string) - clock.now()).toBeGreaterThanOrEqual(
      RETRY_SCHEDULE_MS[3] * 0.9,
    );
  });

  it("WH-09: a receiver that does not answer within the timeout fails the attempt, which is retried", async () => {
    const { id } = await endpoint();
    receiver.answer = () => ({ status: 200, delayMs: 2000 });
    await tenant();
    await runDueJobs(t);
    const [message] = await messages(id);
    expect(message).toMatchObject({ status: "pending", attempts: 1 });
    const [attempt] = await attempts(message?.id as string);
    expect(attempt).toMatchObject({ outcome: "failed", statusCode: null });
    expect(attempt?.error).toMatch(/timed out/);
    expect(attempt?.durationMs as number).toBeLessThan(1500);
  });

  it("WH-12: `webhook-delivery: abort-message` stops the retries", async () => {
    const { id } = await endpoint();
    receiver.answer = () => ({ status: 500, headers: { "webhook-delivery": "abort-message" } });
    await tenant();
    await runDueJobs(t);
    expect((await messages(id))[0]).toMatchObject({ status: "failed", attempts: 1 });
  });

  it("WH-04: during a rotation every delivery carries both signatures; either key verifies", async () => {
    const { id, secret: old } = await endpoint();
    const rotated = await keyA("POST", `/v1/webhooks/endpoints/${id}/rotate-secret`, { gracePeriodSeconds: 3600 });
    expect(rotated.status).toBe(200);
    const fresh = rotated.body.secret as string;
    expect(fresh).not.toBe(old);
    await tenant();
    await runDueJobs(t);
    const d = receiver.received[0] as ReceivedDelivery;
    expect(String(d.headers["webhook-signature"]).split(" ")).toHaveLength(2);
    expect(() => verify(d, old)).not.toThrow();
    expect(() => verify(d, fresh)).not.toThrow();
    // After the grace period only the new secret signs.
    clock.advance(3_601_000);
    await tenant("Later");
    await runDueJobs(t);
    const later = receiver.received[1] as ReceivedDelivery;
    expect(String(later.headers["webhook-signature"]).split(" ")).toHaveLength(1);
    expect(() => verify(later, fresh)).not.toThrow();
    expect(() => verify(later, old)).toThrow();
  });

  it("WH-06: an endpoint failing for 5 days is disabled, with a webhook_endpoint.disabled event", async () => {
    const { id } = await endpoint();
    receiver.answer = () => ({ status: 503 });
    await tenant();
    await runDueJobs(t);
    expect(Date.parse((await keyA("GET", `/v1/webhooks/endpoints/${id}`)).body.failingSince as string)).toBe(
      clock.now(),
    );
    // Keep failing: each new event's first attempt fails too, day after day.
    for (let day = 1; day <= 5; day++) {
      clock.advance(86_400_000);
      await tenant(`Day ${day}`);
      await runDueJobs(t);
    }
    const read = await keyA("GET", `/v1/webhooks/endpoints/${id}`);
    expect(read.body).toMatchObject({ enabled: false, disabledReason: "failing" });
    const events = await keyA("GET", "/v1/events?types=webhook_endpoint.disabled");
    expect(events.body.data).toMatchObject([{ data: { reason: "failing" } }]);
    // Re-enabling starts a fresh failure window.
    const enabled = await keyA("PATCH", `/v1/webhooks/endpoints/${id}`, { enabled: true });
    expect(enabled.body).toMatchObject({ enabled: true, failingSince: null, disabledReason: null });
  });

  it("resends one message and recovers every failed message of an endpoint since a time", async () => {
    const { id, secret } = await endpoint();
    receiver.answer = () => ({ status: 410 });
    await tenant();
    await runDueJobs(t);
    await keyA("PATCH", `/v1/webhooks/endpoints/${id}`, { enabled: true });
    receiver.answer = () => ({ status: 200 });
    const [failed] = await messages(id);
    expect(failed?.status).toBe("failed");
    const resent = await keyA("POST", `/v1/webhooks/messages/${failed?.id}/resend`);
    expect(resent.status).toBe(200);
    expect(resent.body.status).toBe("pending");
    await runDueJobs(t);
    expect(receiver.received.at(-1)?.headers["webhook-id"]).toBe(failed?.id);
    expect(() => verify(receiver.received.at(-1) as ReceivedDelivery, secret)).not.toThrow();

    // Three failures, then recovery of those since the second one.
    receiver.answer = () => ({ status: 410 });
    await tenant("F1");
    await runDueJobs(t);
    await keyA("PATCH", `/v1/webhooks/endpoints/${id}`, { enabled: true });
    clock.advance(1000);
    const since = clock.now();
    for (const name of ["F2", "F3"]) {
      await tenant(name);
      await runDueJobs(t);
      await keyA("PATCH", `/v1/webhooks/endpoints/${id}`, { enabled: true });
    }
    receiver.answer = () => ({ status: 200 });
    const before = receiver.received.length;
    const recovered = await keyA("POST", `/v1/webhooks/endpoints/${id}/recover`, { since });
    expect(recovered.body).toEqual({ recovered: 2 });
    await runDueJobs(t);
    expect(receiver.received.length - before).toBe(2);
    expect((await messages(id)).filter((m) => m.status === "failed")).toHaveLength(1);
  });

  it("routes events by type filter; tenant-owned endpoints receive only their tenant's events", async () => {
    const t1 = await tenant("One");
    const t2 = await tenant("Two");
    await runDueJobs(t);
    const all = await endpoint({ eventTypes: ["order.*"] });
    const own = await endpoint({ tenantId: t1 });
    await keyA("POST", "/v1/events/types", { name: "order.shipped", description: "x" });
    await keyA("POST", "/v1/events/types", { name: "receipt.issued", description: "x" });
    await keyA("POST", "/v1/events", { type: "order.shipped", tenantId: t1, data: {} });
    await keyA("POST", "/v1/events", { type: "order.shipped", tenantId: t2, data: {} });
    await keyA("POST", "/v1/events", { type: "receipt.issued", tenantId: t1, data: {} });
    await runDueJobs(t);
    expect((await messages(all.id)).map((m) => [m.eventType, m.tenantId])).toEqual([
      ["order.shipped", t1],
      ["order.shipped", t2],
    ]);
    expect((await messages(own.id)).map((m) => [m.eventType, m.tenantId])).toEqual([
      ["order.shipped", t1],
      ["receipt.issued", t1],
    ]);
    // A tenant key of t1 sees its endpoint, not the environment's, and cannot reach t2's.
    const tk = t.token({ actorType: "tenant_key", environmentId: p.a.id, tenantId: t1, permissions: ["webhooks:*"] });
    const list = await call(tk, "GET", "/v1/webhooks/endpoints");
    expect((list.body.data as Json[]).map((e) => e.id)).toEqual([own.id]);
    expect((await call(tk, "GET", `/v1/webhooks/endpoints/${all.id}`)).status).toBe(404);
    const created = await call(tk, "POST", "/v1/webhooks/endpoints", { url: `${receiver.url}/t1` });
    expect(created.status).toBe(201);
    expect((created.body as Json).tenantId).toBe(t1);
    const foreign = await call(tk, "POST", "/v1/webhooks/endpoints", { url: `${receiver.url}/x`, tenantId: t2 });
    expect(foreign.status).toBe(404);
  });

  it("pauses a suspended tenant's endpoints without spending attempts, and resumes on reactivation", async () => {
    const t1 = await tenant("Paused");
    await runDueJobs(t);
    const own = await endpoint({ tenantId: t1, eventTypes: ["order.*"] });
    const suspended = await keyA("POST", `/v1/tenants/${t1}/suspend`, { reason: "unpaid" });
    expect(suspended.status, JSON.stringify(suspended.body)).toBe(200);
    await keyA("POST", "/v1/events/types", { name: "order.shipped", description: "x" });
    await keyA("POST", "/v1/events", { type: "order.shipped", tenantId: t1, data: {} });
    await runDueJobs(t);
    expect(receiver.received).toHaveLength(0);
    expect((await messages(own.id))[0]).toMatchObject({ status: "paused", attempts: 0 });
    // Reactivation (`tenant.reactivated`) puts the paused messages back in line.
    const reactivated = await keyA("POST", `/v1/tenants/${t1}/reactivate`, {});
    expect(reactivated.status, JSON.stringify(reactivated.body)).toBe(200);
    await runDueJobs(t); // the resume job
    await runDueJobs(t); // the delivery
    expect(receiver.received).toHaveLength(1);
    expect((await messages(own.id))[0]).toMatchObject({ status: "succeeded", attempts: 1 });
  });

  it("prunes settled messages and their attempts past the retention; pending ones stay", async () => {
    const { id } = await endpoint();
    await tenant("Delivered");
    await runDueJobs(t);
    receiver.answer = () => ({ status: 500 });
    await tenant("Pending");
    await runDueJobs(t);
    const webhooks = t.app.service(webhooksModule);
    expect(await webhooks.delivery.pruneDeliveries()).toBe(0);
    clock.advance(31 * 86_400_000);
    expect(await webhooks.delivery.pruneDeliveries()).toBe(1);
    const left = await messages(id);
    expect(left.map((m) => m.status)).toEqual(["pending"]);
    expect(await attempts(left[0]?.id as string)).toHaveLength(1);
  });
});

describeEachEngine("webhook retry schedule from configuration", (engine) => {
  it("BASEPLATE_WEBHOOKS_RETRY_SCHEDULE sets the delays and the number of attempts", async () => {
    const clock = new TestClock();
    const t = await createTestApp(engine, {
      plane: true,
      clock,
      env: { BASEPLATE_WEBHOOKS_ALLOW_PRIVATE_TARGETS: "true", BASEPLATE_WEBHOOKS_RETRY_SCHEDULE: "1s,2s" },
    });
    const receiver = new WebhookReceiver();
    await receiver.listen();
    try {
      const p = await seedPlane(t);
      const auth = { authorization: `Bearer ${p.a.secretKey}` };
      const created = await t.inject({
        method: "POST",
        url: "/v1/webhooks/endpoints",
        headers: auth,
        payload: { url: `${receiver.url}/hook`, eventTypes: ["tenant.*"] },
      });
      expect(created.statusCode).toBe(201);
      receiver.answer = () => ({ status: 500 });
      await t.inject({ method: "POST", url: "/v1/tenants", headers: auth, payload: { name: "Retry" } });
      await runDueJobs(t);
      clock.advance(1_100);
      expect(await runDueJobs(t)).toBe(1);
      clock.advance(2_200);
      expect(await runDueJobs(t)).toBe(1);
      clock.advance(86_400_000);
      expect(await runDueJobs(t)).toBe(0);
      expect(receiver.received).toHaveLength(3);
    } finally {
      await receiver.close();
      await t.close();
    }
  });

  it("refuses a schedule that is not a list of durations", () => {
    expect(() => loadConfig({ BASEPLATE_WEBHOOKS_RETRY_SCHEDULE: "5 minutes" })).toThrow(
      /BASEPLATE_WEBHOOKS_RETRY_SCHEDULE/,
    );
    expect(() => loadConfig({ BASEPLATE_WEBHOOKS_RETRY_SCHEDULE: "0s" })).toThrow(/at least 1s/);
  });
});
