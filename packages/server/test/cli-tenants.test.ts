import { afterEach, beforeEach, expect, it } from "vitest";
import { MODULES } from "../src/app.js";
import { type CliIo, runCli as run } from "../src/cli/index.js";
import { type SeededPlane, seedPlane } from "../src/testing/fixtures.js";
import { createTestApp, describeEachEngine, type TestApp } from "../src/testing/harness.js";
import { probeModule } from "../src/testing/probe-module.js";

/** runCli with the test plane's modules (the harness adds the probe module's tables). */
const runCli = (argv: string[], io: CliIo) => run(argv, io, [...MODULES, probeModule]);

// The operator's CLI for a 3 a.m. incident: suspend or reactivate a tenant (recorded with a
// reason, as the operating-system user), and explain why someone may or may not do something.

interface FakeIo extends CliIo {
  stdout: string[];
  stderr: string[];
}

describeEachEngine("baseplate CLI: tenants and access", (engine) => {
  let t: TestApp;
  let p: SeededPlane;
  let io: FakeIo;
  let tenantId: string;
  let userId: string;

  beforeEach(async () => {
    t = await createTestApp(engine, { plane: true });
    p = await seedPlane(t);
    const stdout: string[] = [];
    const stderr: string[] = [];
    io = {
      stdout,
      stderr,
      out: (line) => stdout.push(line),
      err: (line) => stderr.push(line),
      env: { ...t.database.env, NODE_ENV: "test", BASEPLATE_PASSWORD_PROFILE: "test", BASEPLATE_LOG_LEVEL: "silent" },
      onSignal: () => undefined,
    };
    const call = async (method: string, url: string, body: unknown) => {
      const res = await t.inject({
        method: method as "POST",
        url,
        headers: { authorization: `Bearer ${p.a.secretKey}` },
        payload: body as object,
      });
      expect(res.statusCode, res.body).toBe(201);
      return JSON.parse(res.body) as { id: string };
    };
    tenantId = (await call("POST", "/v1/tenants", { name: "Initech" })).id;
    userId = (await call("POST", "/v1/users", { email: "peter@initech.example" })).id;
    await call("POST", `/v1/tenants/${tenantId}/members`, { userId, roles: ["member"] });
  });
  afterEach(async () => t.close());

  it("suspends with a reason, refuses without one, and reactivates", async () => {
    expect(await runCli(["tenants", "suspend", tenantId], io)).toBe(2);
    expect(io.stderr.join("\n")).toContain("--reason");
    expect(await runCli(["tenants", "suspend", tenantId, "--reason", "chargeback", "--billing"], io)).toBe(0);
    expect(io.stdout.join("\n")).toContain("active → suspended (chargeback)");
    const read = await t.inject({
      method: "GET",
      url: `/v1/tenants/${tenantId}`,
      headers: { authorization: `Bearer ${p.a.secretKey}` },
    });
    expect(JSON.parse(read.body)).toMatchObject({ state: "suspended", stateCategory: "billing" });
    expect(JSON.parse(read.body).stateChangedBy).toMatch(/^cli:/);
    expect(await runCli(["tenants", "suspend", tenantId, "--reason", "again"], io)).toBe(1);
    io.stdout.length = 0;
    expect(await runCli(["tenants", "reactivate", tenantId, "--json"], io)).toBe(0);
    expect(JSON.parse(io.stdout.join("\n"))).toMatchObject({
      id: tenantId,
      state: "active",
      previousState: "suspended",
    });
    expect(await runCli(["tenants", "reactivate", "ten_nope"], io)).toBe(1);
  });

  it("explains a decision, with exit code 0 when allowed and 3 when denied", async () => {
    const args = ["access", "explain", "--tenant", tenantId, "--user", userId];
    const code = await runCli([...args, "--permission", "files:write"], io);
    expect(code, io.stderr.join("\n")).toBe(0);
    expect(io.stdout.join("\n")).toContain('matched: membership role "member" grants "files:write"');
    expect(await runCli([...args, "--permission", "members:remove"], io)).toBe(3);
    expect(io.stdout.join("\n")).toContain("DENIED");
    expect(await runCli(["access", "explain", "--tenant", tenantId], io)).toBe(2);
  });
});
