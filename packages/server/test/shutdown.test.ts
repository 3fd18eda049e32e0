import { afterEach, beforeEach, expect, it } from "vitest";
import { createTestDatabase, describeEachEngine, type TestDatabase } from "../src/testing/harness.js";
import { freePort, spawnPlane } from "../src/testing/spawn.js";

describeEachEngine("graceful shutdown", (engine) => {
  let database: TestDatabase;
  beforeEach(async () => {
    database = await createTestDatabase(engine);
  });
  afterEach(async () => database.drop());

  it("SIGTERM lets in-flight requests finish, refuses new ones, and exits 0", async () => {
    const port = await freePort();
    const plane = await spawnPlane("serve", { ...database.env, BASEPLATE_PORT: String(port) });
    const url = plane.ready.url as string;
    try {
      expect((await fetch(`${url}/healthz`)).status).toBe(200); // a warm keep-alive connection
      const slow = fetch(`${url}/v1/probe/slow?ms=1500`).then(async (r) => ({
        status: r.status,
        body: await r.json(),
      }));
      await new Promise((r) => setTimeout(r, 500));
      plane.child.kill("SIGTERM");
      await new Promise((r) => setTimeout(r, 200));
      const late = await fetch(`${url}/healthz`).then(
        (r) => r.status,
        () => "refused",
      );
      expect([503, "refused"]).toContain(late);
      expect(await slow).toEqual({ status: 200, body: { waitedMs: 1500 } });
      expect(await plane.exited).toBe(0);
    } finally {
      plane.child.kill("SIGKILL");
    }
  });
});
