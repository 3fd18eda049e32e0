import { performance } from "node:perf_hooks";
import { afterEach, beforeEach, expect, it } from "vitest";
import { generateToken } from "../../platform/crypto.js";
import { seedPlane } from "../../testing/fixtures.js";
import { createTestApp, describeEachEngine, type TestApp } from "../../testing/harness.js";
import { identityModule } from "./index.js";

// Key lookup goes by the SHA-256 of the whole token through a unique index: an unknown key and a
// known-but-revoked key cost the same query, so timing cannot tell an attacker that a key exists.
describeEachEngine("secret key lookup timing", (engine) => {
  let t: TestApp;
  beforeEach(async () => {
    t = await createTestApp(engine, { plane: true });
  });
  afterEach(async () => t.close());

  it("an unknown key and an existing (revoked) key take comparable time to refuse", async () => {
    const p = await seedPlane(t);
    const identity = t.app.service(identityModule);
    const revoke = await t.inject({
      method: "POST",
      url: `/v1/secret-keys/${p.b.secretKeyId}/revoke`,
      headers: { authorization: `Bearer ${p.operatorToken}` },
    });
    expect(revoke.statusCode).toBe(200);
    const existing = p.b.secretKey;
    const median = async (token: () => string) => {
      const times: number[] = [];
      for (let i = 0; i < 60; i++) {
        const value = token();
        const start = performance.now();
        expect(await identity.resolution.resolveSecretKey(value)).toBeNull();
        times.push(performance.now() - start);
      }
      times.sort((a, b) => a - b);
      return times[times.length >> 1] as number;
    };
    // Interleave rounds so machine noise hits both alike.
    const ratios: number[] = [];
    for (let round = 0; round < 3; round++) {
      const unknown = await median(() => generateToken("bp_sk_"));
      const known = await median(() => existing);
      ratios.push(known / unknown);
    }
    ratios.sort((a, b) => a - b);
    const middle = ratios[1] as number;
    expect(middle).toBeGreaterThan(0.5);
    expect(middle).toBeLessThan(2);
  });
});
