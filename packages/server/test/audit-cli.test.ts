import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { type CliIo, runCli } from "../src/cli/index.js";
import { type SeededPlane, seedPlane } from "../src/testing/fixtures.js";
import { createTestApp, describeEachEngine, type TestApp } from "../src/testing/harness.js";

// `baseplate audit verify` checks an export offline: no database, no network, only the file and
// the public keys. A buyer's step by step (docs/audit.md), with deliberately broken files.

function io(): CliIo & { stdout: string[]; stderr: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return {
    stdout: out,
    stderr: err,
    env: {},
    out: (l) => void out.push(l),
    err: (l) => void err.push(l),
    onSignal: () => undefined,
  };
}

describeEachEngine("baseplate audit verify", (engine) => {
  let t: TestApp;
  let plane: SeededPlane;
  let dir: string;
  let exportFile: string;
  let keysFile: string;
  let lines: string[];

  beforeAll(async () => {
    t = await createTestApp(engine, { plane: true });
    plane = await seedPlane(t);
    dir = mkdtempSync(join(tmpdir(), "baseplate-audit-cli-"));
    const auth = { authorization: `Bearer ${plane.a.secretKey}` };
    const tenant = (
      await t.inject({ method: "POST", url: "/v1/tenants", headers: auth, payload: { name: "Buyer" } })
    ).json() as { id: string };
    for (let i = 0; i < 5; i++) {
      await t.inject({ method: "PATCH", url: `/v1/tenants/${tenant.id}`, headers: auth, payload: { name: `N${i}` } });
    }
    await t.inject({ method: "POST", url: "/v1/audit/checkpoints", headers: auth, payload: { tenantId: tenant.id } });
    const exported = await t.inject({ method: "GET", url: `/v1/audit/export?tenantId=${tenant.id}`, headers: auth });
    expect(exported.statusCode).toBe(200);
    expect(exported.headers["content-type"]).toContain("application/x-ndjson");
    lines = exported.body.split("\n").filter(Boolean);
    exportFile = join(dir, "export.jsonl");
    writeFileSync(exportFile, exported.body);
    keysFile = join(dir, "keys.json");
    writeFileSync(keysFile, (await t.inject({ method: "GET", url: "/v1/audit/public-keys" })).body);
  });
  afterAll(async () => {
    await t?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("verifies an intact export against the published keys (JSON or PEM) and exits 0", async () => {
    const a = io();
    expect(await runCli(["audit", "verify", exportFile, "--public-key", keysFile], a)).toBe(0);
    expect(a.stdout.join("\n")).toMatch(
      /^OK: chain ten_\w+, entries 1…7 \(7\), 1 checkpoint\(s\), signed up to entry 7/,
    );
    const pem = join(dir, "key.pem");
    const doc = JSON.parse((await t.inject({ method: "GET", url: "/v1/audit/public-keys" })).body);
    writeFileSync(pem, doc.keys[0].publicKey);
    expect(await runCli(["audit", "verify", exportFile, "--public-key", pem], io())).toBe(0);
  });

  it("exits 1 and names the entry for a modified file", async () => {
    const tampered = [...lines];
    const entry = JSON.parse(tampered[4] as string);
    entry.metadata = { name: "Someone else" };
    tampered[4] = JSON.stringify(entry);
    const file = join(dir, "tampered.jsonl");
    writeFileSync(file, `${tampered.join("\n")}\n`);
    const a = io();
    expect(await runCli(["audit", "verify", file, "--public-key", keysFile], a)).toBe(1);
    expect(a.stdout.join("\n")).toContain(`[entry_modified] (line 5, entry ${entry.seq})`);
  });

  it("exits 1 for a truncated file and a foreign key; 2 for bad usage", async () => {
    const file = join(dir, "truncated.jsonl");
    writeFileSync(file, `${lines.slice(0, -2).join("\n")}\n`);
    const a = io();
    expect(await runCli(["audit", "verify", file, "--public-key", keysFile, "--json"], a)).toBe(1);
    expect(JSON.parse(a.stdout.join("\n")).errors[0].kind).toBe("truncated");
    const { generateKeyPairSync } = await import("node:crypto");
    const other = join(dir, "other.pem");
    writeFileSync(other, generateKeyPairSync("ed25519").publicKey.export({ type: "spki", format: "pem" }) as string);
    expect(await runCli(["audit", "verify", exportFile, "--public-key", other], io())).toBe(1);
    expect(await runCli(["audit", "verify", exportFile], io())).toBe(2);
    expect(await runCli(["audit", "verify", join(dir, "missing.jsonl"), "--public-key", keysFile], io())).toBe(2);
  });
});
