import { createBaseplate, type StreamedEvent, unwrap, verifyWebhook, WebhookVerificationError } from "@baseplate/sdk";
import { afterAll, beforeAll, expect, it } from "vitest";
import { describeEachEngine } from "../src/testing/harness.js";
import {
  type FaultyProxy,
  issued,
  type ListeningPlane,
  listenPlane,
  startFaultyProxy,
} from "../src/testing/sdk-plane.js";
import { type ReceivedDelivery, runDueJobs, WebhookReceiver } from "../src/testing/webhook-receiver.js";

describeEachEngine("@baseplate/sdk event stream and webhooks against a running plane", (engine) => {
  let plane: ListeningPlane;
  let proxy: FaultyProxy;
  let receiver: WebhookReceiver;

  beforeAll(async () => {
    plane = await listenPlane(engine, { BASEPLATE_WEBHOOKS_ALLOW_PRIVATE_TARGETS: "true" });
    proxy = await startFaultyProxy(plane.url);
    receiver = new WebhookReceiver();
    await receiver.listen();
  });
  afterAll(async () => {
    await receiver?.close();
    await proxy?.close();
    await plane?.close();
  });

  it("the stream resumes after a dropped connection without losing or repeating an event", async () => {
    const bp = createBaseplate({ baseUrl: plane.url, token: plane.p.a.secretKey });
    const streaming = createBaseplate({ baseUrl: proxy.url, token: plane.p.a.secretKey });
    const controller = new AbortController();
    const ids: string[] = [];
    const received: StreamedEvent[] = [];
    const mine = (e: StreamedEvent) => ids.some((id) => JSON.stringify(e.event).includes(id));
    const waiter: { current: { count: number; resolve: () => void } | null } = { current: null };
    const until = (count: number) =>
      new Promise<void>((resolve) => {
        if (received.filter(mine).length >= count) resolve();
        else waiter.current = { count, resolve };
      });
    const reading = (async () => {
      // lastEventId 0: the whole log, so nothing committed before the first connection is missed.
      for await (const e of streaming.events({
        types: "tenant.created",
        lastEventId: 0,
        signal: controller.signal,
        reconnectDelayMs: 50,
      })) {
        received.push(e);
        if (waiter.current && received.filter(mine).length >= waiter.current.count) waiter.current.resolve();
      }
    })();
    const create = async (n: number) => {
      for (let i = 0; i < n; i++)
        ids.push((await unwrap(bp.POST("/v1/tenants", { body: { name: `Streamed ${ids.length}` } }))).id);
    };
    await create(2);
    await until(2);
    proxy.cut();
    await create(3); // committed while the stream is down (or reconnecting)
    proxy.cut();
    await create(1);
    await until(6);
    controller.abort();
    await reading;

    const sequences = received.map((e) => e.sequence);
    expect(sequences).toEqual([...sequences].sort((x, y) => x - y));
    expect(new Set(sequences).size).toBe(sequences.length);
    const delivered = received.filter(mine).map((e) => ids.find((id) => JSON.stringify(e.event).includes(id)));
    expect(delivered).toEqual(ids);
    expect(received.every((e) => e.type === "tenant.created" && e.event.type === "tenant.created")).toBe(true);
    expect(proxy.seen.filter((r) => r.path.startsWith("/v1/events/stream")).length).toBeGreaterThanOrEqual(2);
  });

  it("a stream opened without a cursor and dropped before its first event resumes where it opened", async () => {
    const bp = createBaseplate({ baseUrl: plane.url, token: plane.p.a.secretKey });
    const streaming = createBaseplate({ baseUrl: proxy.url, token: plane.p.a.secretKey });
    const controller = new AbortController();
    const received: StreamedEvent[] = [];
    let arrived: () => void = () => undefined;
    const second = new Promise<void>((resolve) => {
      arrived = resolve;
    });
    const opened = proxy.seen.filter((r) => r.path.startsWith("/v1/events/stream")).length;
    const reading = (async () => {
      for await (const e of streaming.events({
        types: "tenant.created",
        signal: controller.signal,
        reconnectDelayMs: 400,
      })) {
        received.push(e);
        if (received.length === 2) arrived();
      }
    })();
    await expect
      .poll(() => proxy.seen.filter((r) => r.path.startsWith("/v1/events/stream")).length)
      .toBeGreaterThan(opened);
    await new Promise((r) => setTimeout(r, 200)); // the opening block (its `id`) has arrived
    proxy.cut();
    // Both are committed while the client waits to reconnect: the end of the log moves past them.
    const ids = [
      (await unwrap(bp.POST("/v1/tenants", { body: { name: "Before the reconnect 1" } }))).id,
      (await unwrap(bp.POST("/v1/tenants", { body: { name: "Before the reconnect 2" } }))).id,
    ];
    await second;
    controller.abort();
    await reading;
    expect(received.map((e) => ids.find((id) => JSON.stringify(e.event).includes(id)))).toEqual(ids);
  });

  it("a refused stream throws its problem; aborting ends the iteration quietly", async () => {
    const anonymous = createBaseplate({ baseUrl: plane.url, token: "bp_sk_nope" });
    await expect(anonymous.events().next()).rejects.toMatchObject({ status: 401 });
    const controller = new AbortController();
    const bp = createBaseplate({ baseUrl: plane.url, token: plane.p.a.secretKey });
    const it = bp.events({ signal: controller.signal });
    setTimeout(() => controller.abort(), 200);
    expect(await it.next()).toEqual({ done: true, value: undefined });
  });

  it("verifyWebhook accepts a real delivery and refuses a tampered, expired or wrongly keyed one", async () => {
    const bp = createBaseplate({ baseUrl: plane.url, token: plane.p.b.secretKey });
    const created = await unwrap(
      bp.POST("/v1/webhooks/endpoints", { body: { url: `${receiver.url}/hook`, eventTypes: ["tenant.created"] } }),
    );
    const secretOf = issued(created, "endpoint").token;
    const tenant = await unwrap(bp.POST("/v1/tenants", { body: { name: "Hooked" } }));
    let delivery: ReceivedDelivery | undefined;
    for (let i = 0; i < 50 && !delivery; i++) {
      await runDueJobs(plane.t);
      delivery = receiver.received.find((d) => d.body.includes(tenant.id));
      if (!delivery) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    if (!delivery) throw new Error("no delivery arrived");
    const headers = delivery.headers;

    const verified = verifyWebhook(delivery.body, headers, secretOf);
    expect(verified.id).toBe(headers["webhook-id"]);
    expect(verified.event.type).toBe("tenant.created");
    expect(verified.event.environmentId).toBe(plane.p.b.id);
    expect(verified.event.subject).toBe(`tenant/${tenant.id}`);
    expect(verified.event.data).toMatchObject({ name: "Hooked" });
    // Node's Headers and a Uint8Array body verify the same.
    const web = new Headers(Object.entries(headers).map(([k, v]) => [k, String(v)]));
    expect(verifyWebhook(new TextEncoder().encode(delivery.body), web, secretOf).id).toBe(verified.id);

    const reason = (fn: () => unknown) => {
      try {
        fn();
        return "accepted";
      } catch (err) {
        expect(err).toBeInstanceOf(WebhookVerificationError);
        return (err as WebhookVerificationError).reason;
      }
    };
    const tampered = delivery.body.replace("Hooked", "Hacked");
    expect(reason(() => verifyWebhook(tampered, headers, secretOf))).toBe("invalid_signature");
    expect(reason(() => verifyWebhook(delivery.body, headers, `whsec_${Buffer.alloc(32, 7).toString("base64")}`))).toBe(
      "invalid_signature",
    );
    const signedAt = Number(headers["webhook-timestamp"]) * 1000;
    const later = signedAt + 301_000;
    expect(reason(() => verifyWebhook(delivery.body, headers, secretOf, { now: later }))).toBe("timestamp_too_old");
    expect(reason(() => verifyWebhook(delivery.body, headers, secretOf, { now: later, toleranceSeconds: 600 }))).toBe(
      "accepted",
    );
    expect(reason(() => verifyWebhook(delivery.body, headers, secretOf, { now: signedAt - 301_000 }))).toBe(
      "timestamp_too_new",
    );
    expect(reason(() => verifyWebhook(delivery.body, { ...headers, "webhook-signature": undefined }, secretOf))).toBe(
      "missing_headers",
    );
  });
});
