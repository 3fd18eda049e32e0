import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { sql } from "kysely";
import { afterEach, beforeEach, expect, it } from "vitest";
import { MODULES } from "../src/app.js";
import { type CliIo, runCli } from "../src/cli/index.js";
import { SecretBox } from "../src/platform/secrets.js";
import { type SeededPlane, seedPlane } from "../src/testing/fixtures.js";
import { createTestApp, describeEachEngine, type TestApp } from "../src/testing/harness.js";
import { probeModule } from "../src/testing/probe-module.js";

// No secret is readable at rest (security issue class 6): after creating every kind of secret the
// plane must read back (webhook signing secrets current and previous, a receiver's header value,
// the audit signing key), none of their bytes appear in the database (the SQLite file and its WAL,
// or every row of the PostgreSQL schema), and everything still works after a restart and after
// `baseplate keys rotate-master`.

const RECEIVER_TOKEN = "receiver-token-d41d8cd98f00b204e980";

describeEachEngine("secrets at rest", (engine) => {
  let t: TestApp;
  let p: SeededPlane;

  beforeEach(async () => {
    t = await createTestApp(engine, {
      plane: true,
      env: { BASEPLATE_WEBHOOKS_ALLOW_PRIVATE_TARGETS: "true" },
    });
    p = await seedPlane(t);
  });
  afterEach(async () => t.close());

  const call = async (app: TestApp, method: string, url: string, body?: unknown) => {
    const res = await app.inject({
      method: method as "POST",
      url,
      headers: { authorization: `Bearer ${p.a.secretKey}` },
      ...(body !== undefined ? { payload: body as object } : {}),
    });
    return { status: res.statusCode, body: res.json() as Record<string, unknown> };
  };

  /** everything the database holds, as text: the SQLite files' bytes, or every row of the schema. */
  async function databaseText(): Promise<string> {
    if (engine === "sqlite") {
      const dir = t.config.dataDir;
      return readdirSync(dir)
        .filter((f) => f.startsWith("baseplate.sqlite"))
        .map((f) => readFileSync(join(dir, f)).toString("latin1"))
        .join("\n");
    }
    const tables = await sql<{ table_name: string }>`
      select table_name from information_schema.tables
      where table_schema = current_schema() and table_type = 'BASE TABLE'`.execute(t.app.db.kysely);
    let text = "";
    for (const { table_name } of tables.rows) {
      const rows = await sql<{
        row: string;
      }>`select row_to_json(x)::text as row from ${sql.table(table_name)} x`.execute(t.app.db.kysely);
      text += rows.rows.map((r) => r.row).join("\n");
    }
    return text;
  }

  it("stores webhook secrets, header values and the audit signing key sealed; they work after restart and rotation", async () => {
    const created = await call(t, "POST", "/v1/webhooks/endpoints", {
      url: "http://127.0.0.1:9/hooks",
      eventTypes: ["*"],
      headers: { authorization: `Bearer ${RECEIVER_TOKEN}` },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const endpointId = (created.body as { id: string }).id;
    const first = created.body.secret as string;
    const rotated = await call(t, "POST", `/v1/webhooks/endpoints/${endpointId}/rotate-secret`, {
      gracePeriodSeconds: 3600,
    });
    expect(rotated.status).toBe(200);
    const second = rotated.body.secret as string;
    // A checkpoint makes sure the stored audit signing key has been used.
    await call(t, "POST", "/v1/tenants", { name: "Acme" });

    if (engine === "sqlite") await sql`pragma wal_checkpoint(TRUNCATE)`.execute(t.app.db.kysely);
    const text = await databaseText();
    for (const secret of [first, second, first.replace(/^whsec_/, ""), second.replace(/^whsec_/, ""), RECEIVER_TOKEN]) {
      expect(text.includes(secret), `a secret is readable in the database: ${secret.slice(0, 12)}…`).toBe(false);
    }
    expect(text).not.toContain("PRIVATE KEY");

    const stored = async (app: TestApp) =>
      (
        await sql<{
          secret: string;
          previous_secret: string;
        }>`select secret, previous_secret from webhook_endpoint where id = ${endpointId}`.execute(app.app.db.kysely)
      ).rows[0] as { secret: string; previous_secret: string };
    const check = async (app: TestApp, keyId?: string) => {
      const row = await stored(app);
      expect(app.app.secrets.open(row.secret, endpointId)).toBe(second);
      expect(app.app.secrets.open(row.previous_secret, endpointId)).toBe(first);
      if (keyId) expect(SecretBox.keyIdOf(row.secret)).toBe(keyId);
      const read = await call(app, "GET", `/v1/webhooks/endpoints/${endpointId}`);
      expect(read.status).toBe(200);
      expect(read.body.headers).toEqual({ authorization: `Bearer ${RECEIVER_TOKEN}` });
    };
    await check(t);

    // A restart: another process on the same database and key file.
    const again = await createTestApp(engine, { plane: true, env: { ...t.database.env } });
    try {
      await check(again);
      // Master key rotation from the CLI while both processes run.
      const lines: string[] = [];
      const io: CliIo = {
        out: (l) => lines.push(l),
        err: (l) => lines.push(l),
        env: { ...t.database.env, NODE_ENV: "test", BASEPLATE_PASSWORD_PROFILE: "test", BASEPLATE_LOG_LEVEL: "silent" },
        onSignal: () => undefined,
      };
      expect(await runCli(["keys", "rotate-master"], io, [...MODULES, probeModule]), lines.join("\n")).toBe(0);
      const keyId = /Master key (mk_[0-9a-z]+) is now current/.exec(lines.join("\n"))?.[1];
      expect(keyId).toBeDefined();
      await check(t, keyId);
      await check(again, keyId);
      const audit = await sql<{ private_key: string | null }>`select private_key from audit_signing_key`.execute(
        t.app.db.kysely,
      );
      for (const row of audit.rows) if (row.private_key) expect(SecretBox.keyIdOf(row.private_key)).toBe(keyId);
    } finally {
      await again.app.stop();
    }
  });
});
