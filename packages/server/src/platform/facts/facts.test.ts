import { afterEach, beforeEach, expect, it } from "vitest";
import { createTestApp, describeEachEngine, type TestApp } from "../../testing/harness.js";
import { systemContext } from "../principal.js";
import type { Fact } from "./index.js";

describeEachEngine("facts", (engine) => {
  let t: TestApp;
  beforeEach(async () => {
    t = await createTestApp(engine);
  });
  afterEach(async () => t.close());

  const rows = (table: string) => t.app.db.kysely.selectFrom(table).selectAll().execute();

  it("a committed write records its fact through every sink, in the same transaction", async () => {
    const seen: Fact[] = [];
    t.app.facts.registerSink("spy", async (_tx, fact) => {
      seen.push(fact);
    });
    const token = t.token({ actorId: "svc_writer", environmentId: "env_a" });
    const res = await t.inject({
      method: "POST",
      url: "/v1/probe/items",
      headers: { authorization: `Bearer ${token}`, "user-agent": "spec/1.0", "x-request-id": "req-fact-1" },
      payload: { name: "one" },
    });
    expect(res.statusCode).toBe(201);
    const id = res.json().id;
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({
      type: "probe_item.created",
      environmentId: "env_a",
      targets: [{ type: "probe_item", id }],
      data: { name: "one" },
      actor: { actorType: "service", actorId: "svc_writer" },
      request: { requestId: "req-fact-1", userAgent: "spec/1.0" },
    });
    expect(seen[0]?.id).toMatch(/^fct_/);
    const stored = await rows("probe_fact");
    expect(stored).toHaveLength(1);
    expect(stored[0]).toMatchObject({ type: "probe_item.created", environment_id: "env_a", actor_id: "svc_writer" });
    expect(t.probe.afterCommitRuns).toBe(1);
  });

  it("a fact recorded in a rolled-back transaction leaves no trace", async () => {
    const token = t.token();
    const res = await t.inject({
      method: "POST",
      url: "/v1/probe/items",
      headers: { authorization: `Bearer ${token}` },
      payload: { name: "explode-after-write" },
    });
    expect(res.statusCode).toBe(500);
    expect(await rows("probe_item")).toHaveLength(0);
    expect(await rows("probe_fact")).toHaveLength(0);
    expect(await rows("job")).toHaveLength(0);
    expect(t.probe.afterCommitRuns).toBe(0);
  });

  it("a failing sink aborts the whole write", async () => {
    t.app.facts.registerSink("broken", async () => {
      throw new Error("sink down");
    });
    const res = await t.inject({
      method: "POST",
      url: "/v1/probe/items",
      headers: { authorization: `Bearer ${t.token()}` },
      payload: { name: "two" },
    });
    expect(res.statusCode).toBe(500);
    expect(await rows("probe_item")).toHaveLength(0);
    expect(await rows("probe_fact")).toHaveLength(0);
  });

  it.each([
    ["password", { password: "hunter2" }],
    ["nested token", { user: { sessionToken: "x" } }],
    ["apiKey", { apiKey: "k" }],
    ["webhook secret", { endpoint: { signingSecret: "whsec_x" } }],
  ])("refuses a fact whose data carries a credential (%s)", async (_label, data) => {
    await expect(
      t.app.db.transaction((tx) =>
        t.app.facts.record(tx, systemContext("req_x"), { type: "thing.happened", targets: [], data }),
      ),
    ).rejects.toThrow(/never carry secrets/);
  });

  it.each(["Tenant.Created", "created", "tenant.", "tenant created"])(
    "refuses the malformed fact type %j",
    async (type) => {
      await expect(
        t.app.db.transaction((tx) => t.app.facts.record(tx, systemContext("req_x"), { type, targets: [] })),
      ).rejects.toThrow(/noun.past_verb/);
    },
  );

  it("refuses a sink registered twice under one name", () => {
    t.app.facts.registerSink("dup", async () => undefined);
    expect(() => t.app.facts.registerSink("dup", async () => undefined)).toThrow(/twice/);
  });
});
