import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type CliIo, runCli } from "../src/cli/index.js";
import { type SeededPlane, seedPlane } from "../src/testing/fixtures.js";
import { createTestApp, describeEachEngine, type TestApp } from "../src/testing/harness.js";
import { WebhookReceiver } from "../src/testing/webhook-receiver.js";

// The CLI against a running plane: a real HTTP server on a loopback port (both engines), its
// secret key signed in as a profile, every remote command in its table and --json forms.

interface FakeIo extends CliIo {
  stdout: string[];
  stderr: string[];
  signals: Map<string, () => void>;
}

function fakeIo(env: Record<string, string | undefined>): FakeIo {
  const io: FakeIo = {
    stdout: [],
    stderr: [],
    signals: new Map(),
    env: { BASEPLATE_LOG_LEVEL: "silent", ...env },
    out: (line) => void io.stdout.push(line),
    err: (line) => void io.stderr.push(line),
    onSignal: (signal, handler) => void io.signals.set(signal, handler),
  };
  return io;
}

/** cli runs one invocation and returns its exit code and output. */
async function cli(env: Record<string, string | undefined>, ...argv: string[]) {
  const io = fakeIo(env);
  const code = await runCli(argv, io);
  return { code, out: io.stdout.join("\n"), err: io.stderr.join("\n") };
}

const STACK_LINE = /^\s+at /m;

describe("baseplate CLI: the command framework", () => {
  const env = { XDG_CONFIG_HOME: "/nonexistent-baseplate-cli-test" };

  it("per-command help: init --help is init's, tenants list --help lists its flags", async () => {
    const init = await cli(env, "init", "--help");
    expect(init.code).toBe(0);
    expect(init.out).toMatch(/^Usage: baseplate init \[options\]/);
    expect(init.out).toContain("--no-project");
    expect(init.out).not.toContain("migrate status");
    const list = await cli(env, "tenants", "list", "--help");
    expect(list.code).toBe(0);
    for (const word of [
      "--state STATE",
      "--limit N",
      "--json",
      "--url URL",
      "--key KEY",
      "--profile NAME",
      "Exit codes",
    ])
      expect(list.out).toContain(word);
    expect((await cli(env, "help", "events", "tail")).out).toContain("Usage: baseplate events tail");
  });

  it("the global help splits the commands that talk to a plane from those on this machine", async () => {
    const { code, out } = await cli(env, "--help");
    expect(code).toBe(0);
    const remote = out.indexOf("Talk to a plane");
    const local = out.indexOf("On this machine");
    expect(remote).toBeGreaterThan(0);
    expect(local).toBeGreaterThan(remote);
    expect(out.indexOf("tenants list")).toBeGreaterThan(remote);
    expect(out.indexOf("tenants list")).toBeLessThan(local);
    expect(out.indexOf("tenants suspend")).toBeGreaterThan(local);
    expect(out).toContain("4 not signed in");
  });

  it.each([
    [
      ["tenants", "list", "--frobnicate"],
      'Unknown option --frobnicate for "tenants list". See "baseplate tenants list --help".',
    ],
    [["tenants", "list", "--limit"], "Option --limit needs a value"],
    [["tenants", "list", "--limit", "0"], 'Bad value for --limit: "0" is not a whole number'],
    [
      ["tenants", "list", "--state", "sleepy"],
      'Bad value for --state: "sleepy" is not one of active, suspended, deactivated.',
    ],
    [["tenants", "list", "--json=yes"], "Option --json takes no value."],
    [["tenants", "show"], 'Missing argument <tenantId> for "tenants show".'],
    [["tenants", "show", "a", "b"], 'Unexpected argument "b" for "tenants show".'],
    [["tenants", "create"], 'Missing option --name for "tenants create".'],
    [["keys", "rotate-master", "--json"], '"keys rotate-master" has no JSON output'],
    [["start", "--json"], '"start" has no JSON output'],
    [["events", "list", "--from", "yesterday"], 'Bad value for --from: "yesterday" is not an ISO 8601 time'],
    [["tenants", "frob"], 'unknown command "tenants frob"'],
  ])("%j → exit 2: %s", async (argv, message) => {
    const res = await cli(env, ...argv);
    expect(res.code).toBe(2);
    expect(res.err).toContain(message);
    expect(res.out).toBe("");
    expect(res.err).not.toMatch(STACK_LINE);
  });

  it("a remote command without a plane exits 4 saying how to sign in", async () => {
    const res = await cli(env, "tenants", "list");
    expect(res.code).toBe(4);
    expect(res.err).toContain("baseplate login");
  });

  it("an unreachable plane exits 4 naming it", async () => {
    const res = await cli(env, "tenants", "list", "--url", "http://127.0.0.1:1", "--key", "bp_sk_x");
    expect(res.code).toBe(4);
    expect(res.err).toContain("Cannot reach the plane at http://127.0.0.1:1");
  });
});

describeEachEngine("baseplate CLI: talking to a plane", (engine) => {
  let t: TestApp;
  let p: SeededPlane;
  let url: string;
  let receiver: WebhookReceiver;
  let config: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    t = await createTestApp(engine, {
      plane: true,
      migrate: false,
      env: { BASEPLATE_PORT: "0", BASEPLATE_WORKERS: "true", BASEPLATE_WEBHOOKS_ALLOW_PRIVATE_TARGETS: "true" },
    });
    url = (await t.app.start()) as string;
    p = await seedPlane(t);
    receiver = new WebhookReceiver();
    await receiver.listen();
  });
  afterAll(async () => {
    await receiver?.close();
    await t?.close();
  });
  beforeEach(() => {
    config = mkdtempSync(join(tmpdir(), "baseplate-cli-"));
    env = { XDG_CONFIG_HOME: config };
    return () => rmSync(config, { recursive: true, force: true });
  });

  const login = async () => {
    const res = await cli(env, "login", "--url", url, "--key", p.a.secretKey);
    expect(res.code, res.err).toBe(0);
  };
  const json = async (...argv: string[]) => {
    const res = await cli(env, ...argv, "--json");
    expect(res.code, `${argv.join(" ")}: ${res.err}`).toBe(0);
    return JSON.parse(res.out);
  };
  const text = async (...argv: string[]) => {
    const res = await cli(env, ...argv);
    expect(res.code, `${argv.join(" ")}: ${res.err}`).toBe(0);
    return res.out;
  };

  it("login checks the key, saves a 0600 profile; whoami and logout use it", async () => {
    const file = join(config, "baseplate", "config.json");
    const wrong = await cli(env, "login", "--url", url, "--key", "bp_sk_wrong");
    expect(wrong.code).toBe(1);
    expect(wrong.err).toMatch(/^Error: .+ \(\w+, request \S+\)$/m);
    expect(() => statSync(file)).toThrow();

    const ok = await cli(env, "login", "--url", `${url}/`, "--key", p.a.secretKey, "--profile", "dev");
    expect(ok.code, ok.err).toBe(0);
    expect(ok.out).toContain('profile "dev"');
    expect(ok.out).not.toContain(p.a.secretKey);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(file, "utf8"))).toMatchObject({
      current: "dev",
      profiles: { dev: { url, key: p.a.secretKey } },
    });

    expect(await text("whoami")).toContain(url);
    expect(await json("whoami")).toMatchObject({ url, profile: "dev", kind: "secret key" });
    expect((await cli(env, "whoami", "--profile", "prod")).code).toBe(2);

    expect(await json("logout")).toMatchObject({ profile: "dev", removed: true });
    expect((await cli(env, "whoami")).code).toBe(4);
  });

  it("BASEPLATE_URL/BASEPLATE_API_KEY and --url/--key override the profile", async () => {
    await cli(env, "login", "--url", url, "--key", p.a.secretKey);
    // A profile pointing nowhere, overridden by the environment, then by the flags.
    const broken = await cli(env, "login", "--url", "http://127.0.0.1:1", "--key", "bp_sk_x", "--profile", "gone");
    expect(broken.code).toBe(4);
    const viaEnv = await cli({ ...env, BASEPLATE_URL: url, BASEPLATE_API_KEY: p.b.secretKey }, "whoami", "--json");
    expect(viaEnv.code, viaEnv.err).toBe(0);
    expect(JSON.parse(viaEnv.out).key).toBe(`bp_sk_…${p.b.secretKey.slice(-4)}`);
    const viaFlags = await cli(
      { ...env, BASEPLATE_URL: "http://127.0.0.1:1" },
      "whoami",
      "--url",
      url,
      "--key",
      p.a.secretKey,
    );
    expect(viaFlags.code, viaFlags.err).toBe(0);
  });

  it("an operator token acts in the environment a profile, BASEPLATE_ENVIRONMENT or --environment names", async () => {
    const bad = await cli(env, "login", "--url", url, "--key", p.operatorToken, "--environment", "prod");
    expect(bad.code).toBe(2);
    expect(bad.err).toContain("--environment");
    const ok = await cli(
      env,
      "login",
      "--url",
      url,
      "--key",
      p.operatorToken,
      "--environment",
      p.a.id,
      "--profile",
      "ops",
    );
    expect(ok.code, ok.err).toBe(0);
    const created = await json("tenants", "create", "--name", "Made by an operator");
    const inA = (await json("tenants", "list", "--limit", "100")) as
      | Array<{ id: string }>
      | { data: Array<{ id: string }> };
    const ids = (Array.isArray(inA) ? inA : inA.data).map((tenant) => tenant.id);
    expect(ids).toContain(created.id);
    // The flag and the environment variable override the profile: in B the tenant is not there.
    const viaFlag = await cli(env, "tenants", "show", created.id as string, "--environment", p.b.id);
    expect(viaFlag.code).toBe(1);
    const viaEnv = await cli({ ...env, BASEPLATE_ENVIRONMENT: p.b.id }, "tenants", "show", created.id as string);
    expect(viaEnv.code).toBe(1);
    expect((await cli(env, "tenants", "show", created.id as string)).code).toBe(0);
  });

  it("tenants, users and tenant keys: create, list, show, in tables and JSON", async () => {
    await login();
    const tenant = await json("tenants", "create", "--name", "Initech CLI");
    expect(tenant).toMatchObject({ name: "Initech CLI", state: "active" });
    expect(tenant.id).toMatch(/^ten_/);
    expect(await text("tenants", "create", "--name", "Umbrella CLI")).toMatch(/^Tenant\s+ten_\S+ \(Umbrella CLI\)$/m);
    const table = (await text("tenants", "list")).split("\n");
    expect(table[0]).toMatch(/^ID\s+NAME\s+SLUG\s+STATE\s+CREATED$/);
    expect(table.some((l) => l.startsWith(tenant.id) && l.includes("Initech CLI"))).toBe(true);
    // Columns line up: every row's name starts where the heading's does.
    const nameAt = (table[0] as string).indexOf("NAME");
    expect(table.slice(1).every((l) => l[nameAt - 1] === " " && l[nameAt] !== " ")).toBe(true);
    const listed = await json("tenants", "list", "--limit", "1");
    expect(listed).toHaveLength(1);
    expect((await json("tenants", "list")).map((x: { id: string }) => x.id)).toContain(tenant.id);
    expect(await json("tenants", "show", tenant.id)).toMatchObject({ id: tenant.id, name: "Initech CLI" });
    expect(await text("tenants", "show", tenant.id)).toContain("Initech CLI");

    const missing = await cli(env, "tenants", "show", "ten_nope");
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/^Error: .+ \(\w+, request req_\S+\)$/);

    const user = await json("users", "create", "--email", "milton@initech.example", "--name", "Milton");
    expect(user).toMatchObject({ email: "milton@initech.example", name: "Milton" });
    expect(await text("users", "list")).toContain("milton@initech.example");
    expect((await json("users", "list", "--email", "milton@initech.example"))[0].id).toBe(user.id);
    expect(await text("users", "show", user.id)).toContain("Milton");
    expect(await json("users", "show", user.id)).toMatchObject({ id: user.id });

    const key = await json("keys", "create", "--tenant", tenant.id, "--name", "ci", "--permissions", "members:read");
    expect(key.token).toMatch(/^bp_tk_/);
    expect(key).toMatchObject({ name: "ci", tenantId: tenant.id, permissions: ["members:read"] });
    const shown = await text("keys", "create", "--tenant", tenant.id, "--name", "ops", "--permissions", "members:*");
    expect(shown).toMatch(/^Token: bp_tk_\S+$/m);
    expect(await text("keys", "list", "--tenant", tenant.id)).toContain("ci");
    expect((await json("keys", "list", "--tenant", tenant.id)).map((k: { id: string }) => k.id)).toContain(key.id);
    expect(await json("keys", "revoke", key.id, "--tenant", tenant.id)).toMatchObject({ id: key.id });
    const listedKeys = await json("keys", "list", "--tenant", tenant.id);
    expect(listedKeys.find((k: { id: string }) => k.id === key.id).revokedAt).not.toBeNull();
  });

  it("events tail receives a published event live, one JSON line each, and ends on Ctrl+C", async () => {
    await login();
    const before = await json("events", "list", "--limit", "10000");
    const after = String(Math.max(0, ...before.map((e: { sequence: number }) => e.sequence)));
    const io = fakeIo(env);
    const tail = runCli(["events", "tail", "--json", "--types", "tenant.created", "--after", after], io);
    // Publishing: the plane's own fact of a tenant created through the API.
    const res = await fetch(`${url}/v1/tenants`, {
      method: "POST",
      headers: { authorization: `Bearer ${p.a.secretKey}`, "content-type": "application/json" },
      body: JSON.stringify({ name: "Tailed" }),
    });
    expect(res.status, await res.clone().text()).toBe(201);
    const tenantId = ((await res.json()) as { id: string }).id;
    const deadline = Date.now() + 10_000;
    while (io.stdout.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(io.stdout.length, io.stderr.join("\n")).toBe(1);
    const event = JSON.parse(io.stdout[0] as string);
    expect(event).toMatchObject({ type: "tenant.created" });
    expect(JSON.stringify(event)).toContain(tenantId);
    expect(event.sequence).toBeGreaterThan(Number(after));
    io.signals.get("SIGINT")?.();
    expect(await tail).toBe(0);

    const listed = await text("events", "list", "--types", "tenant.created", "--limit", "10000");
    expect(listed.split("\n")[0]).toMatch(/^SEQUENCE\s+TIME\s+TYPE/);
    expect(listed).toContain(String(event.id));
  });

  it("audit export writes a file that audit verify accepts with the plane's keys", async () => {
    await login();
    await json("tenants", "create", "--name", "Audited");
    const file = join(config, "audit.jsonl");
    const exported = await json("audit", "export", "--output", file);
    expect(exported.file).toBe(file);
    expect(exported.lines).toBeGreaterThan(0);
    expect(exported.bytes).toBe(statSync(file).size);
    expect(await text("audit", "export", "-o", file)).toMatch(/^Wrote \d+ line\(s\), .+ to /);
    // On a terminal (io.progress), a progress line counts lines and bytes; never with --json.
    const progress: Array<string | null> = [];
    const tty = { ...fakeIo(env), progress: (line: string | null) => void progress.push(line) };
    expect(await runCli(["audit", "export", "-o", file], tty)).toBe(0);
    expect(progress.at(-2)).toMatch(/^Exporting: \d+ line\(s\), /);
    expect(progress.at(-1)).toBeNull();
    progress.length = 0;
    expect(await runCli(["audit", "export", "-o", file, "--json"], tty)).toBe(0);
    expect(progress).toEqual([]);
    expect(await text("audit", "verify", file)).toMatch(/^OK: chain /);
    expect(await json("audit", "verify", file)).toMatchObject({ ok: true });
  });

  it("webhooks attempts and resend, and usage meters and report", async () => {
    await login();
    const auth = { authorization: `Bearer ${p.a.secretKey}`, "content-type": "application/json" };
    const created = await fetch(`${url}/v1/webhooks/endpoints`, {
      method: "POST",
      headers: auth,
      body: JSON.stringify({ url: `${receiver.url}/hook`, eventTypes: ["tenant.created"] }),
    });
    const body = (await created.json()) as { id: string; secret: string };
    expect(created.status, JSON.stringify(body)).toBe(201);
    expect(body.secret).toMatch(/^whsec_/);
    const endpointId = body.id;
    await fetch(`${url}/v1/tenants`, { method: "POST", headers: auth, body: JSON.stringify({ name: "Hooked" }) });
    let messageId: string | undefined;
    const deadline = Date.now() + 15_000;
    while (!messageId && Date.now() < deadline) {
      const page = (await (
        await fetch(`${url}/v1/webhooks/endpoints/${endpointId}/messages`, { headers: auth })
      ).json()) as { data: Array<{ id: string; attempts: number }> };
      messageId = page.data.find((m) => m.attempts > 0)?.id;
      if (!messageId) await new Promise((r) => setTimeout(r, 100));
    }
    expect(messageId).toBeDefined();
    const attempts = await json("webhooks", "attempts", messageId as string);
    expect(attempts[0]).toMatchObject({ outcome: "succeeded", statusCode: 200 });
    expect(await text("webhooks", "attempts", messageId as string)).toMatch(/^ATTEMPT\s+TIME\s+OUTCOME/);
    expect(await json("webhooks", "resend", messageId as string)).toMatchObject({ id: messageId });
    expect((await cli(env, "webhooks", "resend", "msg_nope")).code).toBe(1);

    const meter = await fetch(`${url}/v1/usage/meters`, {
      method: "POST",
      headers: auth,
      body: JSON.stringify({ key: "cli_calls", eventType: "cli.call", aggregation: "count" }),
    });
    expect(meter.status, await meter.clone().text()).toBe(201);
    expect((await json("usage", "meters")).map((m: { key: string }) => m.key)).toContain("cli_calls");
    expect(await text("usage", "meters")).toContain("cli_calls");
    expect(await json("usage", "report", "cli_calls")).toMatchObject({ meter: { key: "cli_calls" } });
    expect(await text("usage", "report", "cli_calls")).toContain("cli_calls (count)");
  });
});
