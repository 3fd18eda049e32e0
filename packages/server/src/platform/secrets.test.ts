import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "kysely";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createTestApp, describeEachEngine, type TestApp } from "../testing/harness.js";
import { createMasterKeyFile, newMasterKey, readMasterKeyFile, SecretBox, SecretUnavailableError } from "./secrets.js";

describe("SecretBox: envelope encryption under versioned master keys", () => {
  const k1 = newMasterKey(1);
  const k2 = newMasterKey(2);

  it("opens what it sealed, only for the same row, and never shows the plaintext", () => {
    const box = new SecretBox([k1], k1.id);
    const sealed = box.seal("whsec_very_secret", "wep_1");
    expect(sealed).not.toContain("very_secret");
    expect(SecretBox.isSealed(sealed)).toBe(true);
    expect(SecretBox.keyIdOf(sealed)).toBe(k1.id);
    expect(box.open(sealed, "wep_1")).toBe("whsec_very_secret");
    // Copied onto another row, the value does not open (the row id is associated data).
    expect(() => box.open(sealed, "wep_2")).toThrow(SecretUnavailableError);
    // Two seals of one value differ (fresh data key and IVs).
    expect(box.seal("x", "r")).not.toBe(box.seal("x", "r"));
  });

  it("refuses tampering and unknown keys instead of returning a wrong value", () => {
    const box = new SecretBox([k1], k1.id);
    const sealed = box.seal("value", "row");
    const parts = sealed.split(".");
    const last = parts[5] as string;
    parts[5] = `${last.slice(0, -2)}${last.endsWith("AA") ? "BB" : "AA"}`;
    expect(() => box.open(parts.join("."), "row")).toThrow(SecretUnavailableError);
    const other = new SecretBox([k2], k2.id);
    expect(() => other.open(sealed, "row")).toThrow(/not in BASEPLATE_MASTER_KEY_FILE/);
  });

  it("rewraps the data key under the new current key; the old ring no longer needed", () => {
    const old = new SecretBox([k1], k1.id);
    const sealed = old.seal("value", "row");
    const both = new SecretBox([k1, k2], k2.id);
    const rewrapped = both.rewrap(sealed, "row") as string;
    expect(SecretBox.keyIdOf(rewrapped)).toBe(k2.id);
    expect(both.rewrap(rewrapped, "row")).toBeNull();
    expect(new SecretBox([k2], k2.id).open(rewrapped, "row")).toBe("value");
  });

  it("processes creating the key file at the same moment all read one whole ring", async () => {
    const dir = mkdtempSync(join(tmpdir(), "baseplate-key-"));
    try {
      const path = join(dir, "master.key");
      const rings = await Promise.all(
        Array.from({ length: 40 }, () => createMasterKeyFile(path, newMasterKey(Date.now()))),
      );
      const winner = rings[0]?.current;
      expect(rings.every((r) => r.current === winner && r.keys.length === 1)).toBe(true);
      expect((await readMasterKeyFile(path))?.current).toBe(winner);
      expect(readdirSync(dir)).toEqual(["master.key"]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describeEachEngine("SecretVault: the master key file", (engine) => {
  let t: TestApp;
  beforeEach(async () => {
    t = await createTestApp(engine);
  });
  afterEach(async () => t.close());

  it("a new plane generates its key file 0600 and seals under it", async () => {
    const file = t.config.masterKeyFile;
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const ring = await readMasterKeyFile(file);
    const sealed = t.app.secrets.seal("s3cret", "row_1");
    expect(SecretBox.keyIdOf(sealed)).toBe(ring?.current);
    expect(await t.app.secrets.open(sealed, "row_1")).toBe("s3cret");
  });

  it("refuses to start without the key file, or with another plane's, once secrets exist", async () => {
    const file = t.config.masterKeyFile;
    const original = (await readMasterKeyFile(file)) as NonNullable<Awaited<ReturnType<typeof readMasterKeyFile>>>;
    const restart = async () => {
      const again = await createTestApp(engine, { env: { ...t.database.env } });
      await again.app.stop();
    };
    rmSync(file);
    await expect(restart()).rejects.toThrow(/master key file .* is missing/);
    const stranger = newMasterKey(5);
    writeFileSync(
      file,
      JSON.stringify({
        current: stranger.id,
        keys: [{ id: stranger.id, key: stranger.key.toString("base64"), createdAt: 5 }],
      }),
      { mode: 0o600 },
    );
    await expect(restart()).rejects.toThrow(/does not open this database's secrets/);
    writeFileSync(
      file,
      JSON.stringify({
        current: original.current,
        keys: original.keys.map((k) => ({ id: k.id, key: k.key.toString("base64"), createdAt: k.createdAt })),
      }),
      { mode: 0o600 },
    );
    await restart();
  });

  it("rotation re-wraps every sealed column online; a process holding the old ring reads the file again", async () => {
    await sql`create table sealed_probe (id text primary key, secret text)`.execute(t.app.db.kysely);
    const before = new Map<string, string>();
    for (let i = 0; i < 600; i++) {
      const id = `row_${String(i).padStart(4, "0")}`;
      before.set(id, t.app.secrets.seal(`secret ${i}`, id));
    }
    const values = [...before].map(([id, sealed]) => sql`(${id}, ${sealed})`);
    await sql`insert into sealed_probe (id, secret) values ${sql.join(values)}`.execute(t.app.db.kysely);
    // Another process of the same plane, started before the rotation: it knows only the old key.
    const other = await createTestApp(engine, { env: { ...t.database.env } });
    const reports: number[] = [];
    const { keyId, rewrapped } = await t.app.secrets.rotate([{ table: "sealed_probe", column: "secret" }], (done) =>
      reports.push(done),
    );
    expect(rewrapped).toBe(600);
    expect(reports.at(-1)).toBe(600);
    const rows = await sql<{ id: string; secret: string }>`select id, secret from sealed_probe`.execute(
      t.app.db.kysely,
    );
    for (const row of rows.rows) {
      expect(SecretBox.keyIdOf(row.secret)).toBe(keyId);
      expect(await t.app.secrets.open(row.secret, row.id)).toBe(`secret ${Number(row.id.slice(4))}`);
    }
    const first = rows.rows[0] as { id: string; secret: string };
    try {
      expect(await other.app.secrets.open(first.secret, first.id)).toBe(`secret ${Number(first.id.slice(4))}`);
    } finally {
      await other.app.stop();
    }
    const ring = await readMasterKeyFile(t.config.masterKeyFile);
    expect(ring?.current).toBe(keyId);
    expect(ring?.keys).toHaveLength(2);
  });
});
