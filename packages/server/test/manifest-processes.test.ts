import { afterAll, beforeAll, expect, it } from "vitest";
import { type SeededPlane, seedPlane } from "../src/testing/fixtures.js";
import { createTestApp, describeEachEngine, type TestApp } from "../src/testing/harness.js";
import { freePort, type PlaneProcess, spawnPlane } from "../src/testing/spawn.js";

// The manifest's apply across processes: 50 applies of one plan racing over TWO plane processes
// on one PostgreSQL database (one process on SQLite): exactly one applies, the others are stale,
// and its changes are recorded once. Then a plane SIGKILLed while it applies a large manifest:
// the environment afterwards holds all of it or none of it, never a part.

type Json = Record<string, unknown>;

describeEachEngine("manifest across processes", (engine) => {
  let t: TestApp;
  let p: SeededPlane;
  const planes: PlaneProcess[] = [];
  let next = 0;

  beforeAll(async () => {
    t = await createTestApp(engine, { plane: true });
    p = await seedPlane(t);
    const env = { ...t.database.env, NODE_ENV: "test", BASEPLATE_PASSWORD_PROFILE: "test", BASEPLATE_WORKERS: "false" };
    const count = engine === "postgres" ? 2 : 1;
    const ports = await Promise.all(Array.from({ length: count }, () => freePort()));
    planes.push(
      ...(await Promise.all(ports.map((port) => spawnPlane("serve-plane", { ...env, BASEPLATE_PORT: String(port) })))),
    );
  }, 60_000);

  afterAll(async () => {
    for (const plane of planes) plane.child.kill("SIGTERM");
    await Promise.all(planes.map((plane) => plane.exited));
    await t?.close();
  });

  async function send(method: string, url: string, body?: unknown, plane?: PlaneProcess) {
    const base = (plane ?? planes[next++ % planes.length])?.ready.url as string;
    const res = await fetch(`${base}${url}`, {
      method,
      headers: {
        authorization: `Bearer ${p.a.secretKey}`,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : {}) as Json };
  }
  const roleCount = async () =>
    Number(
      (
        await t.app.db.kysely
          .selectFrom("role")
          .select((eb) => eb.fn.countAll().as("n"))
          .where("environment_id", "=", p.a.id)
          .executeTakeFirstOrThrow()
      ).n,
    );

  it("50 racing applies of one plan over the processes: exactly one applies", async () => {
    const manifest = {
      roles: [{ key: "racer", name: "Racer", permissions: ["usage:read"] }],
      meters: [{ key: "racer_calls", eventType: "racer.call", aggregation: "count" }],
    };
    const plan = await send("POST", "/v1/manifest/plan", { manifest });
    expect(plan.status).toBe(200);
    const results = await Promise.all(
      Array.from({ length: 50 }, () => send("POST", "/v1/manifest/apply", { manifest, liveHash: plan.body.liveHash })),
    );
    const tally: Record<string, number> = {};
    for (const r of results) {
      const k = r.status === 200 ? "200" : `${r.status} ${String(r.body.code)}`;
      tally[k] = (tally[k] ?? 0) + 1;
    }
    expect(tally).toEqual({ "200": 1, "409 manifest_stale": 49 });
    const applied = await send("GET", "/v1/audit/entries?action=manifest.applied");
    expect(applied.body.data).toHaveLength(1);
    const created = await send("GET", "/v1/audit/entries?action=role.created&limit=100");
    expect((created.body.data as Json[]).filter((e) => (e.metadata as Json).key === "racer")).toHaveLength(1);
  }, 60_000);

  it("a plane SIGKILLed while it applies leaves all of the manifest or none of it", async () => {
    const plane = planes[0] as PlaneProcess;
    const before = await roleCount();
    const live = (await send("GET", "/v1/manifest", undefined, plane)).body.manifest as { roles: Json[] };
    const roles = [
      ...live.roles,
      ...Array.from({ length: 400 }, (_, i) => ({
        key: `bulk-${String(i).padStart(3, "0")}`,
        name: `Bulk ${i}`,
        permissions: ["usage:read"],
      })),
    ];
    const plan = await send("POST", "/v1/manifest/plan", { manifest: { roles } }, plane);
    expect(plan.status).toBe(200);
    const applying = send(
      "POST",
      "/v1/manifest/apply",
      { manifest: { roles }, liveHash: plan.body.liveHash },
      plane,
    ).catch(() => null);
    // Kill as soon as the plane is inside the apply (it has started reading), or after 150 ms.
    await new Promise((resolve) => setTimeout(resolve, 20 + Math.floor(Math.random() * 130)));
    plane.child.kill("SIGKILL");
    expect(await plane.exited).toBe("SIGKILL");
    planes.splice(0, 1);
    await applying;
    const after = await roleCount();
    expect([before, before + 400]).toContain(after);
    const applied = await t.app.db.kysely
      .selectFrom("audit_entry")
      .select("id")
      .where("chain_id", "=", p.a.id)
      .where("action", "=", "manifest.applied")
      .execute();
    // The race above applied once; this apply committed (one more) exactly when its roles are there.
    expect(applied.length).toBe(after === before ? 1 : 2);
  }, 60_000);
});
