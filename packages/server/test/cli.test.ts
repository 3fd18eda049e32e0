import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { VERSION } from "../src/app.js";
import { type CliIo, runCli } from "../src/cli/index.js";
import type { AnyModule } from "../src/platform/module.js";
import { createTestDatabase, describeEachEngine, type TestDatabase } from "../src/testing/harness.js";
import { probeModule } from "../src/testing/probe-module.js";

interface FakeIo extends CliIo {
  stdout: string[];
  stderr: string[];
  signals: Map<string, () => void>;
  /** text is everything printed, stdout then stderr. */
  readonly text: string;
}

function fakeIo(env: Record<string, string> = {}): FakeIo {
  const io: FakeIo = {
    stdout: [],
    stderr: [],
    signals: new Map(),
    env: { BASEPLATE_LOG_LEVEL: "silent", ...env },
    out: (line) => void io.stdout.push(line),
    err: (line) => void io.stderr.push(line),
    onSignal: (signal, handler) => void io.signals.set(signal, handler),
    get text() {
      return [...io.stdout, ...io.stderr].join("\n");
    },
  };
  return io;
}

const STACK_LINE = /^\s+at /m;

describe("baseplate CLI: usage", () => {
  it.each([["--help"], ["-h"], ["help"]])("%s → exit 0 with commands and configuration", async (arg) => {
    const io = fakeIo();
    expect(await runCli([arg], io)).toBe(0);
    const help = io.stdout.join("\n");
    for (const word of [
      "start",
      "migrate up",
      "migrate down",
      "migrate status",
      "BASEPLATE_PORT",
      "BASEPLATE_DATABASE_URL",
    ]) {
      expect(help).toContain(word);
    }
    expect(help).toContain("[8080]");
    expect(io.stderr).toEqual([]);
  });

  it.each([["--version"], ["-v"]])("%s prints the version", async (arg) => {
    const io = fakeIo();
    expect(await runCli([arg], io)).toBe(0);
    expect(io.stdout).toEqual([VERSION]);
    expect(VERSION).toMatch(/^\d+\.\d+\.\d+/);
  });

  it("no command → exit 2 with the help", async () => {
    const io = fakeIo();
    expect(await runCli([], io)).toBe(2);
    expect(io.text).toContain("Usage: baseplate <command>");
  });

  it("an unknown command → exit 2 with a message and no stack trace", async () => {
    const io = fakeIo();
    expect(await runCli(["frobnicate"], io)).toBe(2);
    expect(io.stderr.join("\n")).toContain('unknown command "frobnicate"');
    expect(io.text).toContain("--help");
    expect(io.text).not.toMatch(STACK_LINE);
  });

  it("an unknown option → exit 2 with a message and no stack trace", async () => {
    const io = fakeIo();
    expect(await runCli(["migrate", "up", "--bogus"], io)).toBe(2);
    expect(io.stderr.join("\n")).toContain("--bogus");
    expect(io.text).not.toMatch(STACK_LINE);
  });

  it.each([[["migrate"]], [["migrate", "sideways"]]])("%j → exit 2 naming the subcommands", async (argv) => {
    const io = fakeIo();
    expect(await runCli(argv, io)).toBe(2);
    expect(io.stderr.join("\n")).toContain("migrate up");
  });

  it.each([["0"], ["-1"], ["abc"], ["1.5"]])("migrate down --steps %s → exit 2", async (steps) => {
    const io = fakeIo();
    expect(await runCli(["migrate", "down", "--steps", steps], io)).toBe(2);
    expect(io.stderr.join("\n")).toContain("--steps");
    expect(io.text).not.toMatch(STACK_LINE);
  });

  it.each([
    ["BASEPLATE_PORT", "eighty"],
    ["BASEPLATE_LOG_LEVEL", "loud"],
    ["BASEPLATE_DATABASE_URL", "mysql://db/x"],
  ])("a bad %s → exit 2 naming the variable, no stack trace", async (name, value) => {
    for (const argv of [["migrate", "status"], ["start"]]) {
      const io = fakeIo({ [name]: value });
      expect(await runCli(argv, io)).toBe(2);
      expect(io.stderr.join("\n")).toContain(name);
      expect(io.text).not.toMatch(STACK_LINE);
      expect(io.signals.size).toBe(0);
    }
  });

  it("an unreachable database → exit 1 pointing at BASEPLATE_DATABASE_URL, without its password", async () => {
    const io = fakeIo({ BASEPLATE_DATABASE_URL: "postgres://bp:hunter2@127.0.0.1:1/bp" });
    expect(await runCli(["migrate", "status"], io)).toBe(1);
    const err = io.stderr.join("\n");
    expect(err).toContain("cannot connect to the database");
    expect(err).toContain("BASEPLATE_DATABASE_URL");
    expect(io.text).not.toContain("hunter2");
    expect(io.text).not.toMatch(STACK_LINE);
  });
});

describeEachEngine("baseplate CLI: migrate and start", (engine) => {
  let database: TestDatabase;
  beforeEach(async () => {
    database = await createTestDatabase(engine);
  });
  afterEach(async () => database.drop());

  /** runWith runs one CLI invocation and asserts it succeeded, showing stderr when it did not. */
  const runWith = async (modules: AnyModule[] | undefined, ...argv: string[]) => {
    const io = fakeIo(database.env);
    const code = await runCli(argv, io, modules);
    expect(code, `baseplate ${argv.join(" ")}: ${io.stderr.join("\n")}`).toBe(0);
    return { code, out: io.stdout, err: io.stderr, text: io.text };
  };
  const run = (...argv: string[]) => runWith(undefined, ...argv);

  // Every migration up and down again: slow on PostgreSQL while the suite loads the machine.
  it("status → up → status → down → down --all, printing each migration", { timeout: 120_000 }, async () => {
    const fresh = await run("migrate", "status");
    const names = fresh.out.filter((l) => l.startsWith("pending")).map((l) => l.replace(/^pending\s+/, ""));
    expect(names).toContain("202611260000_platform_idempotency");
    expect(names).toContain("202611260001_platform_jobs");
    expect(names).toEqual([...names].sort());
    expect(fresh.out.at(-1)).toBe(`0 applied, ${names.length} pending.`);

    const up = await run("migrate", "up");
    expect(up.out).toEqual([...names.map((n) => `applied   ${n}`), `Applied ${names.length} migration(s).`]);

    const again = await run("migrate", "up");
    expect(again.out).toEqual(["Already up to date."]);
    const status = JSON.parse((await run("migrate", "status", "--json")).out.join("\n"));
    expect(status.map((m: { name: string }) => m.name)).toEqual(names);
    expect(status.every((m: { applied: boolean; executedAt: string }) => m.applied && m.executedAt)).toBe(true);

    const applied = await run("migrate", "status");
    expect(applied.out.slice(0, -1).every((l) => /^applied {2}\S+ {2}\(\d{4}-\d\d-\d\dT/.test(l))).toBe(true);
    expect(applied.out.at(-1)).toBe(`${names.length} applied, 0 pending.`);

    const down = await run("migrate", "down");
    expect(down.out).toEqual([`reverted  ${names.at(-1)}`, "Reverted 1 migration(s)."]);
    expect((await run("migrate", "status")).out.at(-1)).toBe(`${names.length - 1} applied, 1 pending.`);

    const all = await run("migrate", "down", "--all");
    expect(all.out).toEqual([
      ...names
        .slice(0, -1)
        .reverse()
        .map((n) => `reverted  ${n}`),
      `Reverted ${names.length - 1} migration(s).`,
    ]);

    const nothing = await run("migrate", "down");
    expect(nothing.out).toEqual(["Nothing to revert."]);
    expect((await run("migrate", "status")).out.at(-1)).toBe(`0 applied, ${names.length} pending.`);
  });

  it("down --steps N reverts N migrations, newest first (with a module's migrations too)", {
    timeout: 120_000,
  }, async () => {
    const modules = [probeModule];
    await runWith(modules, "migrate", "up");
    const status = (await runWith(modules, "migrate", "status")).out.slice(0, -1).map((l) => l.split(/\s+/)[1]);
    expect(status).toContain("202611260100_probe_tables");
    expect(status.length).toBeGreaterThanOrEqual(3);
    const res = await runWith(modules, "migrate", "down", "--steps", "2");
    expect(res.out).toEqual([`reverted  ${status.at(-1)}`, `reverted  ${status.at(-2)}`, "Reverted 2 migration(s)."]);
    // More steps than applied migrations reverts what there is.
    const rest = await runWith(modules, "migrate", "down", "--steps", "99");
    expect(rest.out.at(-1)).toBe(`Reverted ${status.length - 2} migration(s).`);
  });

  // NOTE: Kysely's PostgreSQL migration lock is one advisory lock per database, so under a busy
  // parallel run `start` may wait for other tests' migrations; the test timeout bounds the wait.
  it("start migrates, serves, and exits 0 on SIGTERM after draining", { timeout: 90_000 }, async () => {
    const io = fakeIo({ ...database.env, BASEPLATE_PORT: "0", BASEPLATE_WORKER_POLL_MS: "20" });
    const exit = runCli(["start"], io);
    while (io.signals.size < 2) {
      const done = await Promise.race([exit.then((code) => code), new Promise((r) => setTimeout(r, 20, null))]);
      if (done !== null) throw new Error(`start exited early with ${done}: ${io.text}`);
    }
    expect([...io.signals.keys()].sort()).toEqual(["SIGINT", "SIGTERM"]);
    const address = /listening on (http:\/\/\S+)/.exec(io.stderr.join("\n"))?.[1];
    expect(address).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const ready = await fetch(`${address}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: "ready" });
    io.signals.get("SIGTERM")?.();
    expect(await exit).toBe(0);
    await expect(fetch(`${address}/healthz`)).rejects.toThrow();
    expect((await run("migrate", "status")).out.at(-1)).toMatch(/^\d+ applied, 0 pending\.$/);
  });
});
