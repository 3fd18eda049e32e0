import { afterEach, beforeEach, expect, it } from "vitest";
import { MODULES } from "../src/app.js";
import { type CliIo, runCli as run } from "../src/cli/index.js";
import { type SeededPlane, seedPlane } from "../src/testing/fixtures.js";
import { createTestApp, describeEachEngine, type TestApp } from "../src/testing/harness.js";
import { probeModule } from "../src/testing/probe-module.js";

const runCli = (argv: string[], io: CliIo) => run(argv, io, [...MODULES, probeModule]);

// Operator actions from the CLI take the same path as the API (security issue class 8): a
// `baseplate tenants suspend` run beside a serving plane applies in the serving process at once
// (not when its caches expire, on SQLite too), records the same fact in the tenant's environment,
// so the audit entry lands in the tenant's chain and the event reaches the log and webhooks.

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 3_000): Promise<number> {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
  return Date.now() - started;
}

describeEachEngine("CLI operator actions reach the serving plane", (engine) => {
  let t: TestApp;
  let p: SeededPlane;
  let io: CliIo;
  let tenantId: string;

  beforeEach(async () => {
    t = await createTestApp(engine, { plane: true });
    p = await seedPlane(t);
    io = {
      out: () => undefined,
      err: () => undefined,
      env: { ...t.database.env, NODE_ENV: "test", BASEPLATE_PASSWORD_PROFILE: "test", BASEPLATE_LOG_LEVEL: "silent" },
      onSignal: () => undefined,
    };
    const res = await t.inject({
      method: "POST",
      url: "/v1/tenants",
      headers: { authorization: `Bearer ${p.a.secretKey}` },
      payload: { name: "Initech" },
    });
    tenantId = res.json().id;
  });
  afterEach(async () => t.close());

  const tenantWrite = () =>
    t.inject({
      method: "POST",
      url: `/v1/tenants/${tenantId}/audit/entries`,
      headers: {
        authorization: `Bearer ${t.token({ actorType: "tenant_key", actorId: "tk_cli", environmentId: p.a.id, tenantId, permissions: ["*"] })}`,
      },
      payload: { action: "note.added" },
    });
  const events = async (type: string) =>
    (
      await t.inject({
        method: "GET",
        url: `/v1/events?types=${type}&limit=10`,
        headers: { authorization: `Bearer ${p.a.secretKey}` },
      })
    ).json().data as Array<{ tenantId: string; environmentId: string }>;

  it("suspend and reactivate: enforced by the running server at once, with the tenant's audit entry and event", async () => {
    // The serving process has the tenant's state cached (a write succeeded).
    const warm = await tenantWrite();
    expect(warm.statusCode, warm.body).toBe(201);

    expect(await runCli(["tenants", "suspend", tenantId, "--reason", "fraud review"], io)).toBe(0);
    await until("the running server refuses the suspended tenant's writes", async () => {
      const res = await tenantWrite();
      return res.statusCode === 403 && res.json().code === "tenant_suspended";
    });
    const suspended = await events("tenant.suspended");
    expect(suspended).toHaveLength(1);
    expect(suspended[0]).toMatchObject({ tenantId, environmentId: p.a.id });

    const audit = await t.inject({
      method: "GET",
      url: `/v1/tenants/${tenantId}/audit/entries?action=tenant.suspended`,
      headers: { authorization: `Bearer ${p.a.secretKey}` },
    });
    expect(audit.statusCode, audit.body).toBe(200);
    const entries = audit.json().data as Array<{ environmentId: string; actor: { type: string; id: string } }>;
    expect(entries).toHaveLength(1);
    expect(entries[0]?.environmentId).toBe(p.a.id);
    expect(entries[0]?.actor.type).toBe("system");

    expect(await runCli(["tenants", "reactivate", tenantId], io)).toBe(0);
    await until("the running server accepts the reactivated tenant's writes", async () => {
      return (await tenantWrite()).statusCode === 201;
    });
    expect(await events("tenant.reactivated")).toHaveLength(1);
  });
});
