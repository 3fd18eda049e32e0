import { afterEach, beforeEach, expect, it } from "vitest";
import { type App, createApp, MODULES } from "../src/app.js";
import { type CliIo, runCli } from "../src/cli/index.js";
import type { InitResult } from "../src/cli/init.js";
import { loadConfig } from "../src/config.js";
import { createTestDatabase, describeEachEngine, type TestDatabase } from "../src/testing/harness.js";

const PASSWORD = "correct horse battery staple";
const STACK_LINE = /^\s+at /m;

interface FakeIo extends CliIo {
  stdout: string[];
  stderr: string[];
}

function fakeIo(env: Record<string, string>): FakeIo {
  const io: FakeIo = {
    stdout: [],
    stderr: [],
    env,
    out: (line) => void io.stdout.push(line),
    err: (line) => void io.stderr.push(line),
    onSignal: () => undefined,
  };
  return io;
}

describeEachEngine("baseplate init", (engine) => {
  let database: TestDatabase;
  const opened: App[] = [];

  beforeEach(async () => {
    database = await createTestDatabase(engine);
  });
  afterEach(async () => {
    for (const app of opened.splice(0)) await app.stop().catch(() => undefined);
    await database.drop();
  });

  /** env: the configuration of every CLI run and app of a test; the fast hash profile unless told otherwise. */
  const env = (extra: Record<string, string> = {}) => ({
    BASEPLATE_LOG_LEVEL: "silent",
    BASEPLATE_WORKERS: "false",
    NODE_ENV: "test",
    BASEPLATE_PASSWORD_PROFILE: "test",
    ...database.env,
    ...extra,
  });
  const init = async (args: string[], extra: Record<string, string> = {}) => {
    const io = fakeIo(env(extra));
    const code = await runCli(["init", ...args], io);
    return { code, io, stdout: io.stdout.join("\n"), stderr: io.stderr.join("\n") };
  };
  /** open starts a separate app on the same database, as `baseplate start` would. */
  const open = async () => {
    const app = await createApp({ config: loadConfig(env()), modules: MODULES });
    opened.push(app);
    await app.start({ listen: false, workers: false });
    return app;
  };
  const get = (app: App, url: string, token: string) =>
    app.http.fastify.inject({ method: "GET", url, headers: { authorization: `Bearer ${token}` } });
  const count = async (app: App, table: "operator" | "project" | "environment" | "secret_key") =>
    (await app.db.kysely.selectFrom(table).select("id").execute()).length;

  it("creates an admin operator and a project with two environments whose secret keys work", async () => {
    const run = await init(["--email", "Owner@Example.com", "--password", PASSWORD, "--project", "Acme", "--json"]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toBe("");
    const result = JSON.parse(run.stdout) as InitResult;
    expect(result.operator).toMatchObject({ email: "owner@example.com" });
    expect(result.operator.token).toMatch(/^bp_ot_[0-9A-Za-z]{49}$/);
    expect(result.project).toMatchObject({ slug: "acme" });
    const envs = result.project?.environments ?? [];
    expect(envs.map((e) => e.slug)).toEqual(["development", "production"]);
    for (const e of envs) expect(e.secretKey).toMatch(/^bp_sk_[0-9A-Za-z]{49}$/);
    expect(new Set(envs.map((e) => e.secretKey)).size).toBe(2);

    const app = await open();
    const me = await get(app, "/v1/operator/me", result.operator.token);
    expect(me.statusCode).toBe(200);
    expect(me.json()).toMatchObject({ id: result.operator.id, email: "owner@example.com", role: "admin" });
    const tenantIds: string[] = [];
    for (const e of envs) {
      const tenants = await get(app, "/v1/tenants", e.secretKey);
      expect(tenants.statusCode, tenants.body).toBe(200);
      const created = await app.http.fastify.inject({
        method: "POST",
        url: "/v1/tenants",
        headers: { authorization: `Bearer ${e.secretKey}` },
        payload: { name: `Tenant of ${e.slug}` },
      });
      expect(created.statusCode).toBe(201);
      tenantIds.push(created.json().id);
    }
    // Each key is bound to its own environment.
    const [dev, prod] = envs;
    expect((await get(app, `/v1/tenants/${tenantIds[1]}`, dev?.secretKey as string)).statusCode).toBe(404);
    expect((await get(app, `/v1/tenants/${tenantIds[1]}`, prod?.secretKey as string)).statusCode).toBe(200);
    // Only hashes are stored.
    const stored = JSON.stringify(await app.db.kysely.selectFrom("secret_key").selectAll().execute());
    for (const e of envs) expect(stored).not.toContain(e.secretKey.slice(6));
    expect(await count(app, "operator")).toBe(1);
    expect(await count(app, "project")).toBe(1);
    expect(await count(app, "environment")).toBe(2);
    expect(await count(app, "secret_key")).toBe(2);
  });

  it("refuses a second run on an initialised plane (exit 1) and changes nothing", async () => {
    expect((await init(["--email", "owner@example.com", "--password", PASSWORD, "--json"])).code).toBe(0);
    const again = await init(["--email", "intruder@example.com", "--password", PASSWORD, "--project", "X", "--json"]);
    expect(again.code).toBe(1);
    expect(again.stdout).toBe("");
    expect(again.stderr).toContain("already initialised");
    expect(again.stderr).toContain("/v1/operator/login");
    expect(again.stderr).not.toMatch(STACK_LINE);

    const app = await open();
    const operators = await app.db.kysely.selectFrom("operator").select("email").execute();
    expect(operators.map((o) => o.email)).toEqual(["owner@example.com"]);
    expect(await count(app, "project")).toBe(1);
  });

  it("two init runs at once: exactly one initialises the plane", async () => {
    // NOTE: the schema exists first; two processes creating one PostgreSQL schema at once is a separate problem.
    expect(await runCli(["migrate", "up"], fakeIo(env()))).toBe(0);
    const runs = await Promise.all(
      ["one@example.com", "two@example.com"].map((email) =>
        init(["--email", email, "--password", PASSWORD, "--no-project", "--json"]),
      ),
    );
    expect(runs.map((r) => r.code).sort()).toEqual([0, 1]);
    expect(runs.find((r) => r.code === 1)?.stderr).toContain("already initialised");
    const app = await open();
    expect(await count(app, "operator")).toBe(1);
  });

  it("without --password in a non-interactive run → exit 2 with a message, nothing created", async () => {
    const run = await init(["--email", "owner@example.com", "--json"]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("--password");
    expect(run.stderr).not.toMatch(STACK_LINE);
    const noEmail = await init(["--password", PASSWORD]);
    expect(noEmail.code).toBe(2);
    expect(noEmail.stderr).toContain("--email");

    // BASEPLATE_INIT_PASSWORD stands in for the flag; the failed runs left the plane uninitialised.
    const viaEnv = await init(["--email", "owner@example.com", "--no-project", "--json"], {
      BASEPLATE_INIT_PASSWORD: PASSWORD,
    });
    expect(viaEnv.code, viaEnv.stderr).toBe(0);
    const app = await open();
    expect(await count(app, "operator")).toBe(1);
  });

  it("a weak password → exit 2 with the reason, nothing created", async () => {
    for (const password of ["short", "password", "owner@example.com"]) {
      const run = await init(["--email", "owner@example.com", "--password", password, "--project", "Acme", "--json"]);
      expect(run.code, password).toBe(2);
      expect(run.stdout).toBe("");
      expect(run.stderr).toMatch(/characters|common|email/);
      expect(run.stderr).not.toMatch(STACK_LINE);
    }
    const app = await open();
    expect(await count(app, "operator")).toBe(0);
    expect(await count(app, "project")).toBe(0);
  });

  it("--no-project creates only the operator, its password hashed with the production (OWASP) profile", async () => {
    const run = await init(["--email", "owner@example.com", "--password", PASSWORD, "--no-project", "--json"], {
      BASEPLATE_PASSWORD_PROFILE: "owasp",
    });
    expect(run.code, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout) as InitResult;
    expect(result.project).toBeNull();

    const app = await open();
    expect(await count(app, "operator")).toBe(1);
    expect(await count(app, "project")).toBe(0);
    expect(await count(app, "secret_key")).toBe(0);
    const hash = await app.db.kysely.selectFrom("operator").select("password_hash").executeTakeFirstOrThrow();
    expect(hash.password_hash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    expect((await get(app, "/v1/operator/me", result.operator.token)).statusCode).toBe(200);
    const login = await app.http.fastify.inject({
      method: "POST",
      url: "/v1/operator/login",
      payload: { email: "owner@example.com", password: PASSWORD },
    });
    expect(login.statusCode).toBe(201);
  });

  it("human output lists the credentials and says they are shown once", async () => {
    const run = await init(["--email", "owner@example.com", "--password", PASSWORD, "--project", "Acme"]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain("Baseplate is initialised");
    expect(run.stdout).toMatch(/shown once/i);
    expect(run.stdout).toMatch(/bp_ot_[0-9A-Za-z]{49}/);
    expect(run.stdout.match(/bp_sk_[0-9A-Za-z]{49}/g)).toHaveLength(2);
    expect(run.stdout).toContain("development");
    expect(run.stdout).toContain("production");
    expect(run.stdout).not.toContain(PASSWORD);
    expect(() => JSON.parse(run.stdout)).toThrow();
  });
});
