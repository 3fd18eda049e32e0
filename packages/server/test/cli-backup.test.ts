import { randomBytes } from "node:crypto";
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type App, createApp, MODULES } from "../src/app.js";
import { type CliIo, runCli as run } from "../src/cli/index.js";
import { loadConfig } from "../src/config.js";
import { findTool } from "../src/modules/backups/index.js";
import { type SeededPlane, seedPlane } from "../src/testing/fixtures.js";
import { createTestApp, describeEachEngine, type EngineName, type TestApp } from "../src/testing/harness.js";
import { probeModule } from "../src/testing/probe-module.js";

// `baseplate backup create|list|verify|restore` on this machine's plane: a backup restores into a
// new data dir that starts and serves the same data, a damaged backup fails verification, a restore
// never writes over a data dir in use, and the master key is never inside a backup.

const runCli = (argv: string[], io: CliIo) => run(argv, io, [...MODULES, probeModule]);
const PG_TOOLS = (await findTool("pg_dump")) !== null && (await findTool("pg_restore")) !== null;

interface FakeIo extends CliIo {
  stdout: string[];
  stderr: string[];
}

function fakeIo(env: NodeJS.ProcessEnv): FakeIo {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return {
    stdout,
    stderr,
    out: (line) => stdout.push(line),
    err: (line) => stderr.push(line),
    env,
    onSignal: () => undefined,
  };
}

/** filesOf lists every file under a folder (absolute paths). */
function filesOf(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name));
}

describeEachEngine("baseplate backup (CLI)", (engine: EngineName) => {
  if (engine === "postgres" && !PG_TOOLS) {
    it.skip("SKIPPED on PostgreSQL: pg_dump/pg_restore are not installed here (apt-get install postgresql-client)", () => {});
    return;
  }
  let t: TestApp;
  let p: SeededPlane;
  let root: string;
  let env: NodeJS.ProcessEnv;
  let tenantId: string;
  let fileId: string;
  let tenantKey: string;
  const fileBytes = randomBytes(200_000);
  const databases: string[] = [];

  const call = async (token: string, method: string, url: string, body?: unknown, headers = {}) => {
    const res = await t.inject({
      method: method as "GET",
      url,
      headers: { authorization: `Bearer ${token}`, ...headers },
      ...(body !== undefined ? { payload: body as object } : {}),
    });
    return { status: res.statusCode, body: res.json() as Record<string, unknown>, raw: res.rawPayload };
  };

  /** newDatabase creates an empty PostgreSQL database for a restore (dropped after the suite). */
  const newDatabase = async (): Promise<string> => {
    const url = t.database.env.BASEPLATE_DATABASE_URL as string;
    const name = `bk_${randomBytes(5).toString("hex")}`;
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    await client.query(`create database ${name}`);
    await client.end();
    databases.push(name);
    const u = new URL(url);
    u.pathname = `/${name}`;
    return u.toString();
  };

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), "baseplate-backup-"));
    // The master key sits inside the storage folder on purpose: the backup must still leave it out.
    const extra = {
      BASEPLATE_STORAGE_DIR: join(root, "files"),
      BASEPLATE_MASTER_KEY_FILE: join(root, "files", "master.key"),
      BASEPLATE_BACKUP_TARGET: join(root, "backups"),
    };
    t = await createTestApp(engine, { plane: true, env: extra });
    p = await seedPlane(t);
    env = {
      ...t.database.env,
      ...extra,
      NODE_ENV: "test",
      BASEPLATE_PASSWORD_PROFILE: "test",
      BASEPLATE_LOG_LEVEL: "silent",
    };
    tenantId = (await call(p.a.secretKey, "POST", "/v1/tenants", { name: "Initech" })).body.id as string;
    tenantKey = (
      await call(p.a.secretKey, "POST", `/v1/tenants/${tenantId}/keys`, { name: "files", permissions: ["files:*"] })
    ).body.token as string;
    const bucket = (await call(p.a.secretKey, "POST", "/v1/storage/buckets", { name: "docs" })).body.id as string;
    const up = await call(tenantKey, "POST", `/v1/storage/buckets/${bucket}/files?name=report.bin`, fileBytes, {
      "content-type": "application/octet-stream",
    });
    expect(up.status, JSON.stringify(up.body)).toBe(201);
    fileId = up.body.id as string;
  });

  afterAll(async () => {
    await t?.close();
    rmSync(root, { recursive: true, force: true });
    if (databases.length > 0) {
      const client = new pg.Client({ connectionString: t.database.env.BASEPLATE_DATABASE_URL as string });
      await client.connect();
      for (const name of databases) await client.query(`drop database if exists ${name} with (force)`);
      await client.end();
    }
  });

  const create = async (...args: string[]) => {
    const io = fakeIo(env);
    const code = await runCli(["backup", "create", "--json", ...args], io);
    expect(code, io.stderr.join("\n")).toBe(0);
    return JSON.parse(io.stdout.join("\n")) as { id: string; location: string; pruned: string[]; totalBytes: number };
  };

  let first: { id: string; location: string };

  it("creates a backup, verifies it, restores it into a new data dir, and the restored plane serves the same data", async () => {
    const backup = await create();
    first = backup;
    expect(backup.location).toBe(join(root, "backups", backup.id));
    const manifest = JSON.parse(readFileSync(join(backup.location, "manifest.json"), "utf8"));
    expect(manifest).toMatchObject({
      format: "baseplate-backup",
      version: 1,
      engine,
      storage: { driver: "local", files: 1 },
    });
    expect(manifest.migrations).toContain(manifest.lastMigration);
    for (const f of manifest.files) expect(f.sha256).toMatch(/^[0-9a-f]{64}$/);

    // The backup is a plane action on the plane's audit chain, by the CLI's system actor.
    const entries = await t.app.db.kysely
      .selectFrom("audit_entry")
      .select(["action", "actor_type", "actor_id", "chain_id"])
      .where("action", "=", "backup.created")
      .execute();
    expect(entries).toEqual([expect.objectContaining({ chain_id: "plane", actor_type: "system" })]);
    expect(String(entries[0]?.actor_id)).toMatch(/^cli:/);

    const verifyIo = fakeIo(env);
    expect(await runCli(["backup", "verify", backup.location], verifyIo)).toBe(0);
    expect(verifyIo.stdout.join("\n")).toContain("every SHA-256 matches");

    const listIo = fakeIo(env);
    expect(await runCli(["backup", "list", "--json"], listIo)).toBe(0);
    expect((JSON.parse(listIo.stdout.join("\n")) as Array<{ id: string }>).map((b) => b.id)).toContain(backup.id);

    const into = join(root, "restored");
    const databaseUrl = engine === "postgres" ? await newDatabase() : null;
    const restoreIo = fakeIo(env);
    const code = await runCli(
      [
        "backup",
        "restore",
        "--from",
        backup.location,
        "--into",
        into,
        ...(databaseUrl ? ["--database-url", databaseUrl] : []),
      ],
      restoreIo,
    );
    expect(code, restoreIo.stderr.join("\n")).toBe(0);
    const out = restoreIo.stdout.join("\n");
    expect(out).toMatch(/Audit chains\s+\d+ verified/);
    expect(out).toContain(`BASEPLATE_DATA_DIR=${into}`);
    expect(out).toContain("BASEPLATE_MASTER_KEY_FILE");

    // The restored plane starts (with the plane's master key, kept apart) and serves the data.
    const restored: App = await createApp({
      config: loadConfig({
        BASEPLATE_DATA_DIR: into,
        BASEPLATE_MASTER_KEY_FILE: env.BASEPLATE_MASTER_KEY_FILE,
        BASEPLATE_LOG_LEVEL: "silent",
        BASEPLATE_WORKERS: "false",
        BASEPLATE_RATE_LIMITS: "false",
        NODE_ENV: "test",
        BASEPLATE_PASSWORD_PROFILE: "test",
        ...(databaseUrl
          ? {
              BASEPLATE_DATABASE_URL: databaseUrl,
              BASEPLATE_DATABASE_SCHEMA: t.config.database.engine === "postgres" ? t.config.database.schema : "",
            }
          : {}),
      }),
      modules: [...MODULES, probeModule],
    });
    try {
      await restored.start({ listen: false, workers: false });
      const tenant = await restored.http.fastify.inject({
        method: "GET",
        url: `/v1/tenants/${tenantId}`,
        headers: { authorization: `Bearer ${p.a.secretKey}` },
      });
      expect(tenant.statusCode, tenant.body).toBe(200);
      expect(tenant.json()).toMatchObject({ id: tenantId, name: "Initech" });
      const content = await restored.http.fastify.inject({
        method: "GET",
        url: `/v1/files/${fileId}/content`,
        headers: { authorization: `Bearer ${tenantKey}` },
      });
      expect(content.statusCode).toBe(200);
      expect(Buffer.compare(content.rawPayload, fileBytes)).toBe(0);
    } finally {
      await restored.stop();
    }
  });

  it("never puts the master key inside a backup", async () => {
    const backup = first;
    const keyFile = JSON.parse(readFileSync(env.BASEPLATE_MASTER_KEY_FILE as string, "utf8")) as {
      keys: Array<{ id: string; key: string }>;
    };
    expect(keyFile.keys.length).toBeGreaterThan(0);
    const files = filesOf(backup.location);
    expect(files.some((f) => f.endsWith("master.key"))).toBe(false);
    for (const { key } of keyFile.keys) {
      const raw = Buffer.from(key, "base64");
      const needles = [Buffer.from(key), raw, Buffer.from(raw.toString("hex")), Buffer.from(raw.toString("base64url"))];
      for (const file of files) {
        const bytes = readFileSync(file);
        for (const needle of needles) expect(bytes.includes(needle), `${file} holds the master key`).toBe(false);
      }
    }
  });

  it("fails verification of a damaged or incomplete backup, naming the file", async () => {
    const backup = await create();
    const db = join(backup.location, engine === "sqlite" ? "database.sqlite" : "database.pgdump");
    const bytes = readFileSync(db);
    bytes[Math.floor(bytes.length / 2)] = (bytes[Math.floor(bytes.length / 2)] as number) ^ 0xff;
    writeFileSync(db, bytes);
    const io = fakeIo(env);
    expect(await runCli(["backup", "verify", backup.location, "--json"], io)).toBe(1);
    const check = JSON.parse(io.stdout.join("\n"));
    expect(check).toMatchObject({ ok: false, problems: [{ kind: "hash_mismatch" }] });

    const blob = filesOf(join(backup.location, "files"))[0] as string;
    rmSync(blob);
    const io2 = fakeIo(env);
    expect(await runCli(["backup", "verify", backup.location], io2)).toBe(1);
    expect(io2.stdout.join("\n")).toContain("[missing]");

    // A damaged backup is not restored (and nothing is left behind).
    const into = join(root, "damaged-restore");
    const io3 = fakeIo(env);
    const databaseUrl = engine === "postgres" ? await newDatabase() : null;
    expect(
      await runCli(
        [
          "backup",
          "restore",
          "--from",
          backup.location,
          "--into",
          into,
          ...(databaseUrl ? ["--database-url", databaseUrl] : []),
        ],
        io3,
      ),
    ).toBe(1);
    expect(io3.stderr.join("\n")).toContain("damaged");
    expect(() => statSync(into)).toThrow();
  });

  it("refuses to restore over a data dir or a schema that is not empty, or a backup newer than this build", async () => {
    const busy = join(root, "busy");
    mkdirSync(busy);
    writeFileSync(join(busy, "baseplate.sqlite"), "live");
    const pgLive = engine === "postgres" ? ["--database-url", t.database.env.BASEPLATE_DATABASE_URL as string] : [];
    const io = fakeIo(env);
    expect(await runCli(["backup", "restore", "--from", first.location, "--into", busy, ...pgLive], io)).toBe(1);
    expect(io.stderr.join("\n")).toContain("not empty");
    expect(readFileSync(join(busy, "baseplate.sqlite"), "utf8")).toBe("live");
    if (engine === "postgres") {
      // The live plane's own schema is not empty: refused before anything is written.
      const io1 = fakeIo(env);
      expect(
        await runCli(["backup", "restore", "--from", first.location, "--into", join(root, "pg-live"), ...pgLive], io1),
      ).toBe(1);
      expect(io1.stderr.join("\n")).toMatch(/Schema "[a-z0-9_]+" of the target database is not empty/);
      expect(() => statSync(join(root, "pg-live"))).toThrow();
    }

    const backup = { location: join(root, "backups-copy", first.id) };
    cpSync(first.location, backup.location, { recursive: true });
    const manifestPath = join(backup.location, "manifest.json");
    const manifest = JSON.parse(readFileSync(manifestPath, "utf8"));
    manifest.migrations.push("209912312359_billing_from_the_future");
    manifest.planeVersion = "9.0.0";
    writeFileSync(manifestPath, JSON.stringify(manifest));
    const io2 = fakeIo(env);
    expect(
      await runCli(["backup", "restore", "--from", backup.location, "--into", join(root, "future"), ...pgLive], io2),
    ).toBe(1);
    expect(io2.stderr.join("\n")).toContain("newer than this build");
    expect(io2.stderr.join("\n")).toContain("209912312359_billing_from_the_future");
  });

  it("keeps the newest N with --keep, recording each deletion", async () => {
    const target = join(root, "kept");
    const made = [];
    for (let i = 0; i < 2; i++) made.push(await create("--to", target, "--keep", "1"));
    expect(made[1]?.pruned).toEqual([made[0]?.id]);
    const io = fakeIo(env);
    expect(await runCli(["backup", "list", "--target", target, "--json"], io)).toBe(0);
    expect((JSON.parse(io.stdout.join("\n")) as Array<{ id: string }>).map((b) => b.id)).toEqual([made[1]?.id]);
    const deleted = await t.app.db.kysely
      .selectFrom("audit_entry")
      .select(["chain_id"])
      .where("action", "=", "backup.deleted")
      .execute();
    expect(deleted).toEqual([{ chain_id: "plane" }]);
  });

  it("answers usage errors for a missing --into or a location that is not a backup", async () => {
    const io = fakeIo(env);
    expect(await runCli(["backup", "restore", "--from", "/tmp/x"], io)).toBe(2);
    const io2 = fakeIo(env);
    expect(await runCli(["backup", "verify", "/tmp/not-a-backup"], io2)).toBe(2);
  });
});

describe("baseplate backup on PostgreSQL without pg_dump", () => {
  it("names the package to install", async () => {
    const { PgToolMissing } = await import("../src/modules/backups/index.js");
    expect(new PgToolMissing("pg_dump").message).toContain("postgresql-client");
  });
});
