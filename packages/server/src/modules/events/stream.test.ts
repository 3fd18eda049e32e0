import { get, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, beforeEach, expect, it } from "vitest";
import { type SeededPlane, seedPlane } from "../../testing/fixtures.js";
import { createTestApp, describeEachEngine, type TestApp } from "../../testing/harness.js";
import { eventsModule } from "./index.js";

// The live stream (server-sent events): resume after `Last-Event-ID` without loss, tenant-bound
// callers see only their tenant, another environment's events never appear, and a consumer that
// stops reading costs a bounded amount of server memory, then catches up from the log.

type Json = Record<string, unknown>;

interface Stream {
  events: Array<{ id: string; type: string; data: Json }>;
  res: IncomingMessage;
  close(): void;
  waitFor(n: number, timeoutMs?: number): Promise<void>;
}

describeEachEngine("event stream", (engine) => {
  let t: TestApp;
  let p: SeededPlane;
  let base: string;
  const open: Stream[] = [];

  beforeEach(async () => {
    t = await createTestApp(engine, { plane: true });
    p = await seedPlane(t);
    await t.app.http.fastify.listen({ host: "127.0.0.1", port: 0 });
    base = `http://127.0.0.1:${(t.app.http.fastify.server.address() as AddressInfo).port}`;
    for (const key of [p.a.secretKey, p.b.secretKey]) {
      await t.inject({
        method: "POST",
        url: "/v1/events/types",
        headers: { authorization: `Bearer ${key}` },
        payload: { name: "order.shipped", description: "An order shipped" },
      });
    }
  });
  afterEach(async () => {
    for (const s of open.splice(0)) s.close();
    await t.close();
  });

  function connect(token: string, path = "/v1/events/stream", headers: Record<string, string> = {}): Promise<Stream> {
    return new Promise((resolve, reject) => {
      const req = get(`${base}${path}`, { headers: { authorization: `Bearer ${token}`, ...headers } }, (res) => {
        const events: Stream["events"] = [];
        let buffer = "";
        const waiters: Array<() => void> = [];
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          buffer += chunk;
          let end = buffer.indexOf("\n\n");
          while (end >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const fields = Object.fromEntries(
              block
                .split("\n")
                .filter((l) => !l.startsWith(":") && l.includes(": "))
                .map((l) => [l.slice(0, l.indexOf(": ")), l.slice(l.indexOf(": ") + 2)]),
            );
            if (fields.data)
              events.push({ id: fields.id ?? "", type: fields.event ?? "", data: JSON.parse(fields.data) });
            end = buffer.indexOf("\n\n");
          }
          for (const w of waiters.splice(0)) w();
        });
        const stream: Stream = {
          events,
          res,
          close: () => req.destroy(),
          waitFor: async (n, timeoutMs = 5000) => {
            const deadline = Date.now() + timeoutMs;
            while (events.length < n) {
              if (Date.now() > deadline) throw new Error(`stream got ${events.length} events, wanted ${n}`);
              await new Promise<void>((r) => {
                waiters.push(r);
                setTimeout(r, 50);
              });
            }
          },
        };
        open.push(stream);
        resolve(stream);
      });
      req.on("error", reject);
    });
  }

  async function publish(token: string, body: Json): Promise<Json> {
    const res = await t.inject({
      method: "POST",
      url: "/v1/events",
      headers: { authorization: `Bearer ${token}` },
      payload: { type: "order.shipped", data: {}, ...body },
    });
    expect(res.statusCode, res.body).toBe(201);
    return res.json();
  }
  async function tenant(name: string): Promise<string> {
    const res = await t.inject({
      method: "POST",
      url: "/v1/tenants",
      headers: { authorization: `Bearer ${p.a.secretKey}` },
      payload: { name },
    });
    return res.json().id;
  }

  it("streams new events of the environment as they commit, and nothing of another environment", async () => {
    const stream = await connect(p.a.secretKey);
    expect(stream.res.statusCode).toBe(200);
    expect(stream.res.headers["content-type"]).toMatch(/^text\/event-stream/);
    await publish(p.b.secretKey, { data: { env: "b" } });
    const first = await publish(p.a.secretKey, { data: { n: 1 } });
    await publish(p.a.secretKey, { data: { n: 2 } });
    await stream.waitFor(2);
    expect(stream.events.map((e) => e.data.id)).toEqual([first.id, expect.any(String)]);
    expect(stream.events.every((e) => e.data.environmentId === p.a.id)).toBe(true);
    expect(stream.events[0]?.id).toBe(String(first.sequence));
    expect(stream.events[0]?.type).toBe("order.shipped");
  });

  it("resumes after Last-Event-ID (header or query) without losing or repeating an event", async () => {
    const published: Json[] = [];
    for (let i = 0; i < 5; i++) published.push(await publish(p.a.secretKey, { data: { i } }));
    const third = published[2] as Json;
    const resumed = await connect(p.a.secretKey, "/v1/events/stream", { "last-event-id": String(third.sequence) });
    await resumed.waitFor(2);
    expect(resumed.events.map((e) => e.data.id)).toEqual([published[3]?.id, published[4]?.id]);
    const viaQuery = await connect(p.a.secretKey, `/v1/events/stream?lastEventId=${third.sequence}&types=order.*`);
    await viaQuery.waitFor(2);
    expect(viaQuery.events.map((e) => e.data.id)).toEqual([published[3]?.id, published[4]?.id]);
    const later = await publish(p.a.secretKey, { data: { i: 5 } });
    await resumed.waitFor(3);
    expect(resumed.events.map((e) => e.data.id).at(-1)).toBe(later.id);
    const bad = await connect(p.a.secretKey, "/v1/events/stream", { "last-event-id": "nope" });
    expect(bad.res.statusCode).toBe(400);
  });

  it("a tenant key sees only its tenant's events; another tenant's stream is 404", async () => {
    const t1 = await tenant("One");
    const t2 = await tenant("Two");
    const tk = t.token({ actorType: "tenant_key", environmentId: p.a.id, tenantId: t1, permissions: ["events:read"] });
    const own = await connect(tk, "/v1/events/stream?lastEventId=0");
    await publish(p.a.secretKey, { tenantId: t2, data: { who: "t2" } });
    await publish(p.a.secretKey, { data: { who: "environment" } });
    await publish(p.a.secretKey, { tenantId: t1, data: { who: "t1" } });
    await own.waitFor(2);
    await new Promise((r) => setTimeout(r, 200));
    expect(own.events.map((e) => e.data.tenantId)).toEqual([t1, t1]);
    expect(own.events.map((e) => e.type)).toEqual(["tenant.created", "order.shipped"]);
    const foreign = await connect(tk, `/v1/events/stream?tenantId=${t2}`);
    expect(foreign.res.statusCode).toBe(404);
    const otherEnv = t.token({ actorType: "tenant_key", environmentId: p.b.id, tenantId: t1, permissions: ["*"] });
    const crossed = await connect(otherEnv, "/v1/events/stream?lastEventId=0");
    expect(crossed.res.statusCode).toBe(404);
  });

  it("a consumer that stops reading holds a bounded buffer, then catches up from the log in order", async () => {
    const events = t.app.service(eventsModule);
    const head = await events.log.headOf(p.a.id);
    const slow = await connect(p.a.secretKey, `/v1/events/stream?lastEventId=${head}`);
    slow.res.pause();
    const big = "x".repeat(4000);
    const n = 400; // ~1.6 MB of events, far beyond the socket buffers
    for (let i = 0; i < n; i += 50) {
      await Promise.all(Array.from({ length: 50 }, (_, j) => publish(p.a.secretKey, { data: { i: i + j, big } })));
    }
    await new Promise((r) => setTimeout(r, 300));
    expect(events.streams.connections).toBe(1);
    // The server keeps at most about one socket buffer per stream, whatever the backlog.
    expect(events.streams.maxBuffered).toBeLessThan(256 * 1024);
    slow.res.resume();
    await slow.waitFor(n, 20_000);
    const seqs = slow.events.map((e) => Number(e.id));
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(seqs).size).toBe(n);
  });

  it("serves 200 streams of one environment from one read of the log per batch", async () => {
    const streams = await Promise.all(Array.from({ length: 200 }, () => connect(p.a.secretKey)));
    const event = await publish(p.a.secretKey, { data: { fan: "out" } });
    await Promise.all(streams.map((s) => s.waitFor(1)));
    expect(streams.every((s) => s.events[0]?.data.id === event.id)).toBe(true);
  });
});
