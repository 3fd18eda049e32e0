import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { seedPlane } from "../../testing/fixtures.js";
import { createTestApp, describeEachEngine, type TestApp } from "../../testing/harness.js";
import { keyIdOf } from "./format.js";
import { auditModule } from "./index.js";

// Where the signing key lives: BASEPLATE_AUDIT_SIGNING_KEY_FILE keeps it out of the database
// (whoever can write the database cannot re-sign history); replacing the file rotates it.

describeEachEngine("audit signing key from a file", (engine) => {
  let t: TestApp;
  let dir: string;
  const first = generateKeyPairSync("ed25519");
  const second = generateKeyPairSync("ed25519");

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "baseplate-audit-key-"));
    writeFileSync(join(dir, "first.pem"), first.privateKey.export({ type: "pkcs8", format: "pem" }) as string);
    writeFileSync(join(dir, "second.pem"), second.privateKey.export({ type: "pkcs8", format: "pem" }) as string);
    t = await createTestApp(engine, { plane: true, env: { BASEPLATE_AUDIT_SIGNING_KEY_FILE: join(dir, "first.pem") } });
  });
  afterAll(async () => {
    await t?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("signs with the file's key, never stores it, refuses API rotation, and schedules hourly checkpoints", async () => {
    const plane = await seedPlane(t);
    const keys = (await t.inject({ method: "GET", url: "/v1/audit/public-keys" })).json().keys;
    expect(keys).toEqual([expect.objectContaining({ keyId: keyIdOf(first.publicKey), status: "active" })]);
    const stored = await t.app.db.kysely.selectFrom("audit_signing_key").select(["id", "private_key"]).execute();
    expect(stored).toEqual([{ id: keyIdOf(first.publicKey), private_key: null }]);
    const cp = await t.inject({
      method: "POST",
      url: "/v1/audit/checkpoints",
      headers: { authorization: `Bearer ${plane.a.secretKey}` },
      payload: {},
    });
    expect(cp.statusCode, cp.body).toBe(201);
    expect(cp.json().keyId).toBe(keyIdOf(first.publicKey));
    const rotate = await t.inject({
      method: "POST",
      url: "/v1/operator/audit/signing-keys/rotate",
      headers: { authorization: `Bearer ${plane.operatorToken}` },
    });
    expect(rotate.statusCode).toBe(409);
    expect(rotate.json().code).toBe("audit_signing_key_external");
    expect(t.app.jobs.schedules.get("audit.checkpoint")).toBe("0 * * * *");
    expect(t.app.jobs.schedules.get("audit.prune")).toBe("17 3 * * *");
  });

  it("a replaced file becomes the active key; the old one stays published and old checkpoints verify", async () => {
    // A second process on the same database, started with the new file (a restart after rotation).
    const again = await createTestApp(engine, {
      plane: true,
      env: { ...t.database.env, BASEPLATE_AUDIT_SIGNING_KEY_FILE: join(dir, "second.pem") },
    });
    try {
      const keys = (await again.inject({ method: "GET", url: "/v1/audit/public-keys" })).json().keys;
      expect(keys.map((k: { keyId: string; status: string }) => [k.keyId, k.status]).sort()).toEqual(
        [
          [keyIdOf(first.publicKey), "retired"],
          [keyIdOf(second.publicKey), "active"],
        ].sort(),
      );
      const environmentId = (
        await again.app.db.kysely.selectFrom("audit_checkpoint").select("environment_id").executeTakeFirstOrThrow()
      ).environment_id as string;
      const audit = again.app.service(auditModule);
      const cp = await again.app.db.transaction((tx) => audit.checkpoints.checkpointIn(tx, environmentId, null));
      expect(cp.keyId).toBe(keyIdOf(second.publicKey));
      const result = await audit.exports.verifyChain({
        environmentId,
        tenantId: null,
      });
      expect(result).toMatchObject({ ok: true, checkpoints: 2 });
    } finally {
      await again.app.stop();
    }
  });
});
