import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestClock } from "../../platform/clock.js";
import { type SeededPlane, seedPlane } from "../../testing/fixtures.js";
import { createTestApp, describeEachEngine, type TestApp } from "../../testing/harness.js";
import { usageModule } from "./index.js";
import { derivedEventId } from "./service/ingest.js";

type Json = Record<string, unknown>;

// The usage module end to end: meters, ingestion (dedup, per-item answers, the time window,
// subjects), queries (windows, groups, the tenant route), entitlements and holds.

const T0 = Date.parse("2026-04-10T12:00:00Z");

describeEachEngine("usage", (engine) => {
  let t: TestApp;
  let p: SeededPlane;
  const clock = new TestClock(T0);
  let tenantA: string;
  let tenantB: string;
  let tenantKeyA: string;

  async function call(token: string, method: string, url: string, body?: unknown, headers: Json = {}) {
    const res = await t.inject({
      method: method as "GET",
      url,
      headers: { authorization: `Bearer ${token}`, ...(headers as Record<string, string>) },
      ...(body !== undefined ? { payload: body as object } : {}),
    });
    return { status: res.statusCode, body: res.json() as Json };
  }
  const sk = () => p.a.secretKey;

  beforeAll(async () => {
    t = await createTestApp(engine, { plane: true, clock });
    p = await seedPlane(t);
    tenantA = (await call(sk(), "POST", "/v1/tenants", { name: "Acme", externalId: "acme-ext" })).body.id as string;
    tenantB = (await call(sk(), "POST", "/v1/tenants", { name: "Beta" })).body.id as string;
    const key = await call(sk(), "POST", `/v1/tenants/${tenantA}/keys`, { name: "k", permissions: ["*"] });
    tenantKeyA = key.body.token as string;
    expect(key.status).toBe(201);
    for (const meter of [
      { key: "tokens", eventType: "llm.call", aggregation: "sum", valuePath: "tokens", groupBy: { model: "model" } },
      { key: "calls", eventType: "llm.call", aggregation: "count" },
      { key: "peak", eventType: "llm.call", aggregation: "max", valuePath: "tokens" },
      { key: "last", eventType: "llm.call", aggregation: "latest", valuePath: "tokens" },
      { key: "users", eventType: "seen", aggregation: "unique_count", valuePath: "user" },
    ]) {
      expect((await call(sk(), "POST", "/v1/usage/meters", meter)).status).toBe(201);
    }
  });
  afterAll(async () => t?.close());

  const at = (minutes: number) => new Date(T0 + minutes * 60_000).toISOString();
  const query = async (token: string, q: Record<string, string>, url?: string) => {
    const { meter, ...rest } = q;
    const res = await call(token, "GET", `${url ?? `/v1/usage/meters/${meter}/usage`}?${new URLSearchParams(rest)}`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return res.body as {
      windows: Array<{ from: string; rows: Json[] }>;
      totals: Array<{ value: number; group: Json }>;
    };
  };

  it("counts an event once, by subject id or externalId; a repeat is a duplicate", async () => {
    const e = { id: "e1", type: "llm.call", subject: "acme-ext", time: at(-10), data: { tokens: 100, model: "a" } };
    const first = await call(sk(), "POST", "/v1/usage/events", e);
    expect(first.body).toMatchObject({ id: "e1", status: "accepted", tenantId: tenantA });
    const again = await call(sk(), "POST", "/v1/usage/events", { ...e, subject: tenantA, data: { tokens: 999 } });
    expect(again.body).toMatchObject({ id: "e1", status: "duplicate" });
    const q = await query(sk(), { meter: "tokens", tenantId: tenantA, from: at(-60), to: at(60) });
    expect(q.totals[0]?.value).toBe(100);
  });

  it("batches answer per item; bad events are refused and nothing of them is stored", async () => {
    const res = await call(sk(), "POST", "/v1/usage/events/batch", {
      events: [
        { id: "b1", type: "llm.call", subject: tenantA, time: at(-5), data: { tokens: 5, model: "b" } },
        { id: "b1", type: "llm.call", subject: tenantA, time: at(-5), data: { tokens: 5, model: "b" } },
        { id: "b2", type: "llm.call", subject: tenantA, data: { tokens: "many" } },
        { id: "b3", type: "llm.call", subject: tenantA, time: at(-36 * 24 * 60), data: { tokens: 1 } },
        { id: "b4", type: "llm.call", subject: tenantA, time: at(6), data: { tokens: 1 } },
        { id: "b5", type: "llm.call", subject: "nobody", data: { tokens: 1 } },
        { id: "b6", type: "nothing.metered", subject: tenantA, data: {} },
        {
          id: "b7",
          type: "llm.call",
          subject: tenantA,
          data: { deep: { a: { b: { c: { d: { e: { f: { g: { h: 1 } } } } } } } } },
        },
        { id: "b8", type: "llm.call", subject: tenantA, data: { blob: "x".repeat(9000), tokens: 1 } },
        { id: 42, type: "llm.call", subject: tenantA },
        { id: "b9", type: "llm.call", data: { tokens: 1 } },
        "not an object",
      ],
    });
    expect(res.status).toBe(200);
    const r = res.body as { results: Array<{ status: string; problem?: { code: string } }>; accepted: number };
    expect(r.results.map((x) => x.problem?.code ?? x.status)).toEqual([
      "accepted",
      "duplicate",
      "invalid_value",
      "event_out_of_window",
      "event_out_of_window",
      "subject_not_found",
      "unknown_event_type",
      "invalid_event",
      "invalid_event",
      "invalid_event",
      "subject_required",
      "invalid_event",
    ]);
    for (const id of ["b2", "b3", "b4", "b5", "b6", "b7", "b8", "b9"]) {
      const again = await call(sk(), "POST", "/v1/usage/events", {
        id,
        type: "llm.call",
        subject: tenantB,
        data: { tokens: 0 },
      });
      expect(again.body.status, id).toBe("accepted");
    }
    const single = await call(sk(), "POST", "/v1/usage/events", {
      id: "s1",
      type: "llm.call",
      subject: tenantA,
      data: {},
    });
    expect(single.status).toBe(422);
    expect(single.body.code).toBe("invalid_value");
  });

  it("tenant keys report only for their own tenant; agents must use a callId", async () => {
    const own = await call(tenantKeyA, "POST", "/v1/usage/events", {
      id: "tk1",
      type: "llm.call",
      data: { tokens: 1 },
    });
    expect(own.body).toMatchObject({ status: "accepted", tenantId: tenantA });
    const other = await call(tenantKeyA, "POST", "/v1/usage/events", {
      id: "tk2",
      type: "llm.call",
      subject: tenantB,
      data: { tokens: 1 },
    });
    expect(other.status).toBe(404);
    expect(other.body.code).toBe("subject_not_found");
    expect(derivedEventId("cred_1", "call_1")).toBe(derivedEventId("cred_1", "call_1"));
    expect(derivedEventId("cred_1", "call_1")).not.toBe(derivedEventId("cred_2", "call_1"));
  });

  it("an agent's retried tool call is one event: the id is derived from its key and the call id", async () => {
    const user = await call(sk(), "POST", "/v1/users", {
      email: "agent-owner@example.com",
      password: "correct horse battery staple",
    });
    await call(sk(), "POST", `/v1/tenants/${tenantA}/members`, { userId: user.body.id, roles: ["owner"] });
    const agent = await call(sk(), "POST", `/v1/tenants/${tenantA}/agent-keys`, {
      userId: user.body.id,
      name: "bot",
      scopes: ["*"],
    });
    expect(agent.status, JSON.stringify(agent.body)).toBe(201);
    const token = agent.body.token as string;
    const e = { callId: "toolu_01", type: "llm.call", data: { tokens: 7, model: "agent" } };
    const one = await call(token, "POST", "/v1/usage/events", e);
    const two = await call(token, "POST", "/v1/usage/events", e);
    expect(one.body.status).toBe("accepted");
    expect(two.body).toMatchObject({ status: "duplicate", id: one.body.id });
    const chosen = await call(token, "POST", "/v1/usage/events", { id: "mine", type: "llm.call", data: { tokens: 1 } });
    expect(chosen.body.code).toBe("call_id_required");
    const q = await query(sk(), { meter: "tokens", tenantId: tenantA, from: at(-60), to: at(60), groupBy: "model" });
    expect(q.totals.find((r) => r.group.model === "agent")?.value).toBe(7);
  });

  it("queries windows, groups and aggregations; late events fold into their bucket", async () => {
    const events = [
      { id: "q1", time: at(-120), tokens: 10, model: "x" },
      { id: "q2", time: at(-119), tokens: 30, model: "y" },
      { id: "q3", time: at(-61), tokens: 20, model: "x" },
    ].map((e) => ({
      id: e.id,
      type: "llm.call",
      subject: tenantB,
      time: e.time,
      data: { tokens: e.tokens, model: e.model },
    }));
    await call(sk(), "POST", "/v1/usage/events/batch", { events });
    // A late event, reported after the others, for the first hour.
    await call(sk(), "POST", "/v1/usage/events", {
      id: "q4",
      type: "llm.call",
      subject: tenantB,
      time: at(-100),
      data: { tokens: 1, model: "y" },
    });
    const from = at(-120);
    const to = at(-60);
    const sum = await query(sk(), { meter: "tokens", tenantId: tenantB, from, to, window: "hour", groupBy: "model" });
    expect(sum.totals.map((r) => [r.group.model, r.value])).toEqual([
      ["x", 30],
      ["y", 31],
    ]);
    expect((await query(sk(), { meter: "calls", tenantId: tenantB, from, to })).totals[0]?.value).toBe(4);
    expect((await query(sk(), { meter: "peak", tenantId: tenantB, from, to })).totals[0]?.value).toBe(30);
    expect((await query(sk(), { meter: "last", tenantId: tenantB, from, to })).totals[0]?.value).toBe(20);
    const minutes = await query(sk(), { meter: "tokens", tenantId: tenantB, from, to: at(-118), window: "minute" });
    expect(minutes.windows.map((w) => w.rows[0]?.value)).toEqual([10, 30]);
    // Environment-wide, grouped by tenant.
    const all = await query(sk(), { meter: "calls", from, to, groupBy: "tenantId" });
    expect(all.totals).toEqual([{ group: { tenantId: tenantB }, value: 4, events: 4 }]);
    const bad = await call(
      sk(),
      "GET",
      `/v1/usage/meters/tokens/usage?${new URLSearchParams({ from: at(0).replace(":00.000", ":30.000"), to })}`,
    );
    expect(bad.status).toBe(400);
    // Without a range: this month in the time zone.
    const month = await query(sk(), { meter: "calls", tenantId: tenantB, timeZone: "Europe/Berlin" });
    expect(month).toMatchObject({ from: "2026-03-31T22:00:00.000Z", to: "2026-04-30T22:00:00.000Z" });
    const explicit = await query(sk(), {
      meter: "calls",
      tenantId: tenantB,
      from: "2026-03-31T22:00:00Z",
      to: "2026-04-30T22:00:00Z",
    });
    expect(month.totals).toEqual(explicit.totals);
  });

  it("unique_count is exact across windows", async () => {
    const events = ["u1", "u2", "u1", "u3", "u2"].map((user, i) => ({
      id: `uc${i}`,
      type: "seen",
      subject: tenantB,
      time: at(-200 + i * 30),
      data: { user },
    }));
    await call(sk(), "POST", "/v1/usage/events/batch", { events });
    const q = await query(sk(), { meter: "users", tenantId: tenantB, from: at(-240), to: at(0), window: "hour" });
    expect(q.totals[0]?.value).toBe(3);
    expect(q.windows.map((w) => w.rows[0]?.value)).toEqual([1, 2, 2, 0]);
  });

  it("a tenant sees only its own usage on the tenant route", async () => {
    const mine = await query(tenantKeyA, { from: at(-60), to: at(60) }, `/v1/tenants/${tenantA}/usage/tokens`);
    expect(mine.totals[0]?.value).toBeGreaterThan(0);
    const theirs = await call(
      tenantKeyA,
      "GET",
      `/v1/tenants/${tenantB}/usage/tokens?${new URLSearchParams({ from: at(-60), to: at(60) })}`,
    );
    expect(theirs.status).toBe(404);
    const env = await query(tenantKeyA, { meter: "tokens", from: at(-60), to: at(60) });
    expect(env.totals[0]?.value).toBe(mine.totals[0]?.value);
  });

  it("meters: the definition is fixed once there are events; archiving stops ingestion", async () => {
    const fresh = await call(sk(), "POST", "/v1/usage/meters", {
      key: "spare",
      eventType: "spare.used",
      aggregation: "count",
    });
    const id = fresh.body.id as string;
    expect((await call(sk(), "PATCH", `/v1/usage/meters/${id}`, { aggregation: "sum", valuePath: "n" })).status).toBe(
      200,
    );
    await call(sk(), "POST", "/v1/usage/events", { id: "sp1", type: "spare.used", subject: tenantA, data: { n: 2 } });
    const change = await call(sk(), "PATCH", `/v1/usage/meters/spare`, { aggregation: "max" });
    expect(change.body.code, JSON.stringify(change.body)).toBe("meter_has_events");
    expect((await call(sk(), "PATCH", `/v1/usage/meters/spare`, { description: "ok" })).status).toBe(200);
    expect(
      (await call(sk(), "POST", "/v1/usage/meters", { key: "spare", eventType: "x", aggregation: "count" })).status,
    ).toBe(409);
    expect((await call(sk(), "POST", `/v1/usage/meters/${id}/archive`)).status).toBe(200);
    const after = await call(sk(), "POST", "/v1/usage/events", {
      id: "sp2",
      type: "spare.used",
      subject: tenantA,
      data: { n: 2 },
    });
    expect(after.body.code).toBe("unknown_event_type");
  });

  it("a meter changed behind the ingestion cache is read afresh, never measured by its old definition", async () => {
    const meter = await call(sk(), "POST", "/v1/usage/meters", {
      key: "moved",
      eventType: "moved.used",
      aggregation: "sum",
      valuePath: "a",
    });
    expect(meter.status).toBe(201);
    const send = (id: string) =>
      call(sk(), "POST", "/v1/usage/events", { id, type: "moved.used", subject: tenantA, data: { a: 100, b: 5 } });
    expect((await send("mv1")).body.status).toBe("accepted");
    expect((await send("mv2")).body.status).toBe("accepted");
    // Another process changing the definition (no change-bus message reaches this one): the stored
    // version no longer matches what this process cached, so the next event reads the meter afresh.
    await t.app.db.kysely
      .updateTable("usage_meter" as never)
      .set({ value_path: "b", updated_at: T0 + 1 } as never)
      .where("id" as never, "=", meter.body.id as never)
      .execute();
    expect((await send("mv3")).body.status).toBe("accepted");
    expect((await send("mv3")).body.status).toBe("duplicate");
    const q = await query(sk(), { meter: "moved", tenantId: tenantA, from: at(-60), to: at(60) });
    expect(q.totals[0]?.value).toBe(205);
  });

  it("a subject's externalId change is seen at once: the old one names no tenant, the new one does", async () => {
    const id = (await call(sk(), "POST", "/v1/tenants", { name: "Renamed", externalId: "old-ext" })).body.id as string;
    const send = (eid: string, subject: string) =>
      call(sk(), "POST", "/v1/usage/events", { id: eid, type: "llm.call", subject, data: { tokens: 1 } });
    expect((await send("rn1", "old-ext")).body).toMatchObject({ status: "accepted", tenantId: id });
    expect((await call(sk(), "PATCH", `/v1/tenants/${id}`, { externalId: "new-ext" })).status).toBe(200);
    expect((await send("rn2", "old-ext")).body.code).toBe("subject_not_found");
    expect((await send("rn3", "new-ext")).body).toMatchObject({ status: "accepted", tenantId: id });
  });

  it("deactivated tenants accept no usage; suspended tenants' usage is accepted from secret keys", async () => {
    const c = (await call(sk(), "POST", "/v1/tenants", { name: "Gone" })).body.id as string;
    const d = (await call(sk(), "POST", "/v1/tenants", { name: "Paused" })).body.id as string;
    await call(sk(), "POST", `/v1/tenants/${c}/deactivate`, { reason: "left" });
    await call(sk(), "POST", `/v1/tenants/${d}/suspend`, { reason: "late" });
    const gone = await call(sk(), "POST", "/v1/usage/events", {
      id: "g1",
      type: "llm.call",
      subject: c,
      data: { tokens: 1 },
    });
    expect(gone.body.code).toBe("tenant_deactivated");
    const paused = await call(sk(), "POST", "/v1/usage/events", {
      id: "g2",
      type: "llm.call",
      subject: d,
      data: { tokens: 1 },
    });
    expect(paused.body.status).toBe("accepted");
  });

  describe("entitlements and holds", () => {
    it("boolean and metered entitlements answer check from rollups plus open holds", async () => {
      const t2 = (await call(sk(), "POST", "/v1/tenants", { name: "Metered" })).body.id as string;
      expect((await call(sk(), "POST", `/v1/tenants/${t2}/entitlements`, { feature: "sso" })).status).toBe(200);
      const set = await call(sk(), "POST", `/v1/tenants/${t2}/entitlements`, {
        feature: "ai",
        meter: "tokens",
        limit: 100,
        period: "month",
        timeZone: "Europe/Berlin",
      });
      expect(set.status, JSON.stringify(set.body)).toBe(200);
      expect((await call(sk(), "POST", "/v1/entitlements/check", { tenantId: t2, feature: "sso" })).body.allowed).toBe(
        true,
      );
      expect((await call(sk(), "POST", "/v1/entitlements/check", { tenantId: t2, feature: "nope" })).body.allowed).toBe(
        false,
      );
      await call(sk(), "POST", "/v1/usage/events", { id: "m1", type: "llm.call", subject: t2, data: { tokens: 30 } });
      const hold = await call(sk(), "POST", "/v1/usage/holds", {
        tenantId: t2,
        feature: "ai",
        amount: 50,
        ttlSeconds: 60,
      });
      expect(hold.status, JSON.stringify(hold.body)).toBe(201);
      const check = await call(sk(), "POST", "/v1/entitlements/check", { tenantId: t2, feature: "ai", amount: 20 });
      expect(check.body).toMatchObject({
        allowed: true,
        limit: 100,
        used: 30,
        held: 50,
        remaining: 20,
        resetsAt: "2026-04-30T22:00:00.000Z",
      });
      const over = await call(sk(), "POST", "/v1/usage/holds", { tenantId: t2, feature: "ai", amount: 21 });
      expect(over.body.code).toBe("limit_exceeded");
      const commit = await call(sk(), "POST", `/v1/usage/holds/${hold.body.id}/commit`, { amount: 40 });
      expect(commit.body).toMatchObject({ status: "committed", committedAmount: 40, eventId: `hold:${hold.body.id}` });
      const again = await call(sk(), "POST", `/v1/usage/holds/${hold.body.id}/commit`, { amount: 40 });
      expect(again.body.code).toBe("hold_not_open");
      const after = await call(sk(), "POST", "/v1/entitlements/check", { tenantId: t2, feature: "ai" });
      expect(after.body).toMatchObject({ used: 70, held: 0, remaining: 30 });
      const h2 = await call(sk(), "POST", "/v1/usage/holds", { tenantId: t2, feature: "ai", amount: 30 });
      expect((await call(sk(), "POST", `/v1/usage/holds/${h2.body.id}/release`)).body.status).toBe("released");
      // Expiry: the hold stops counting at its TTL; the job marks it expired.
      const h3 = await call(sk(), "POST", "/v1/usage/holds", {
        tenantId: t2,
        feature: "ai",
        amount: 30,
        ttlSeconds: 5,
      });
      expect((await call(sk(), "POST", "/v1/entitlements/check", { tenantId: t2, feature: "ai" })).body.remaining).toBe(
        0,
      );
      clock.advance(6_000);
      expect((await call(sk(), "POST", "/v1/entitlements/check", { tenantId: t2, feature: "ai" })).body.remaining).toBe(
        30,
      );
      expect(await t.app.service(usageModule).holds.expireDue()).toBe(1);
      expect((await call(sk(), "GET", `/v1/usage/holds/${h3.body.id}`)).body.status).toBe("expired");
      const list = await call(sk(), "GET", `/v1/tenants/${t2}/entitlements`);
      expect((list.body.data as Json[]).map((e) => e.feature)).toEqual(["ai", "sso"]);
      // Listed by tenant, status and feature, with each hold's end.
      const holds = async (q: string) =>
        ((await call(sk(), "GET", `/v1/usage/holds?tenantId=${t2}${q}`)).body.data as Json[]).map((h) => [
          h.id,
          h.status,
        ]);
      expect((await holds("")).sort()).toEqual(
        [
          [hold.body.id, "committed"],
          [h2.body.id, "released"],
          [h3.body.id, "expired"],
        ].sort(),
      );
      expect(await holds("&status=expired")).toEqual([[h3.body.id, "expired"]]);
      expect(await holds("&feature=ai&status=committed")).toEqual([[hold.body.id, "committed"]]);
      expect(await holds("&feature=sso")).toEqual([]);
      const page = await call(sk(), "GET", `/v1/usage/holds?tenantId=${t2}&limit=2`);
      expect(page.body).toMatchObject({ hasMore: true });
      const rest = await call(sk(), "GET", `/v1/usage/holds?tenantId=${t2}&limit=2&cursor=${page.body.nextCursor}`);
      expect((rest.body.data as Json[]).length).toBe(1);
      expect((await call(sk(), "GET", "/v1/usage/holds?status=nope")).status).toBe(400);
    });

    it("a check sees new usage, holds and limits at once (its cache is dropped by every change)", async () => {
      const t3 = (await call(sk(), "POST", "/v1/tenants", { name: "Cached" })).body.id as string;
      const check = async () =>
        (await call(sk(), "POST", "/v1/entitlements/check", { tenantId: t3, feature: "ai" })).body as Json;
      await call(sk(), "POST", `/v1/tenants/${t3}/entitlements`, {
        feature: "ai",
        meter: "tokens",
        limit: 1000,
        period: "rolling",
        rollingDays: 30,
      });
      expect(await check()).toMatchObject({ used: 0, held: 0, remaining: 1000 });
      for (let i = 0; i < 3; i++) {
        await call(sk(), "POST", "/v1/usage/events", {
          id: `c${i}`,
          type: "llm.call",
          subject: t3,
          data: { tokens: 10 },
        });
        expect(await check()).toMatchObject({ used: 10 * (i + 1) });
      }
      const batch = await call(sk(), "POST", "/v1/usage/events/batch", {
        events: [{ id: "cb", type: "llm.call", subject: t3, data: { tokens: 70 } }],
      });
      expect(batch.body.accepted).toBe(1);
      expect(await check()).toMatchObject({ used: 100, remaining: 900 });
      const hold = await call(sk(), "POST", "/v1/usage/holds", { tenantId: t3, feature: "ai", amount: 400 });
      expect(await check()).toMatchObject({ used: 100, held: 400, remaining: 500 });
      await call(sk(), "POST", `/v1/usage/holds/${hold.body.id}/release`);
      expect(await check()).toMatchObject({ held: 0, remaining: 900 });
      await call(sk(), "POST", `/v1/tenants/${t3}/entitlements`, {
        feature: "ai",
        meter: "tokens",
        limit: 150,
        period: "rolling",
        rollingDays: 30,
      });
      expect(await check()).toMatchObject({ limit: 150, remaining: 50 });
      const list = await call(sk(), "GET", `/v1/tenants/${t3}/entitlements`);
      const entitlementId = (list.body.data as Json[])[0]?.id as string;
      await call(sk(), "DELETE", `/v1/tenants/${t3}/entitlements/${entitlementId}`);
      expect(await check()).toMatchObject({ kind: null, allowed: false });
    });

    it("a month follows the tenant's time zone unless the entitlement names one, at once when it changes", async () => {
      const bad = await call(sk(), "POST", "/v1/tenants", { name: "Nowhere", timeZone: "Mars/Olympus" });
      expect(bad.status).toBe(400);
      const created = await call(sk(), "POST", "/v1/tenants", { name: "Zoned", timeZone: "America/New_York" });
      expect(created.body.timeZone).toBe("America/New_York");
      const tz = created.body.id as string;
      const set = await call(sk(), "POST", `/v1/tenants/${tz}/entitlements`, {
        feature: "ai",
        meter: "tokens",
        limit: 10,
        period: "month",
      });
      expect(set.body.timeZone).toBeNull();
      const resets = async () =>
        (await call(sk(), "POST", "/v1/entitlements/check", { tenantId: tz, feature: "ai" })).body.resetsAt;
      expect(await resets()).toBe("2026-05-01T04:00:00.000Z");
      const patched = await call(sk(), "PATCH", `/v1/tenants/${tz}`, { timeZone: "Asia/Tokyo" });
      expect(patched.body.timeZone).toBe("Asia/Tokyo");
      expect(await resets()).toBe("2026-04-30T15:00:00.000Z");
      // A hold decides in the tenant's zone too: usage of the Tokyo month counts.
      await call(sk(), "POST", "/v1/usage/events", { id: "tz1", type: "llm.call", subject: tz, data: { tokens: 8 } });
      const over = await call(sk(), "POST", "/v1/usage/holds", { tenantId: tz, feature: "ai", amount: 3 });
      expect(over.body.code).toBe("limit_exceeded");
      // An entitlement that names a zone keeps it whatever the tenant's.
      await call(sk(), "POST", `/v1/tenants/${tz}/entitlements`, {
        feature: "ai",
        meter: "tokens",
        limit: 10,
        period: "month",
        timeZone: "UTC",
      });
      expect(await resets()).toBe("2026-05-01T00:00:00.000Z");
    });

    it("other modules report usage through the service, once per id", async () => {
      const usage = t.app.service(usageModule);
      await call(sk(), "POST", "/v1/usage/meters", {
        key: "storage",
        eventType: "storage.bytes",
        aggregation: "sum",
        valuePath: "bytes",
      });
      const input = {
        environmentId: p.a.id,
        tenantId: tenantA,
        id: "file_1:day",
        type: "storage.bytes",
        data: { bytes: 512 },
        source: "storage",
      };
      expect((await usage.report(input)).status).toBe("accepted");
      expect((await usage.report(input)).status).toBe("duplicate");
      const q = await query(sk(), { meter: "storage", tenantId: tenantA, from: at(-60), to: at(60) });
      expect(q.totals[0]?.value).toBe(512);
    });
  });
});
