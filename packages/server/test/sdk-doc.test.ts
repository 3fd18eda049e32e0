import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import type { Server } from "node:http";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { createBaseplate, unwrap } from "@baseplate/sdk";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { issued, type ListeningPlane, listenPlane } from "../src/testing/sdk-plane.js";
import { freePort } from "../src/testing/spawn.js";
import { runDueJobs } from "../src/testing/webhook-receiver.js";

// docs/sdk.md is a newcomer's path from a fresh clone to a program: its ```ts sdk-snippet blocks
// run here verbatim, in order, against a real plane (SQLite), with the environment the guide has
// the reader export.
const doc = readFileSync(new URL("../../../docs/sdk.md", import.meta.url), "utf8");
const snippets = [...doc.matchAll(/```ts sdk-snippet\n([\s\S]*?)```/g)].map((m) => m[1] as string);
const dir = fileURLToPath(new URL("./.sdk-doc/", import.meta.url));

describe("docs/sdk.md runs as written", () => {
  let plane: ListeningPlane;
  const logs: string[] = [];
  const saved = { ...process.env };

  async function run(index: number): Promise<Record<string, unknown>> {
    const file = join(dir, `snippet-${index}-${Date.now()}.ts`);
    writeFileSync(file, snippets[index] as string);
    return (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  }

  beforeAll(async () => {
    plane = await listenPlane("sqlite", { BASEPLATE_WEBHOOKS_ALLOW_PRIVATE_TARGETS: "true" });
    mkdirSync(dir, { recursive: true });
    vi.spyOn(console, "log").mockImplementation((...args: unknown[]) => {
      logs.push(args.join(" "));
    });
    process.env.BASEPLATE_URL = plane.url;
    process.env.BASEPLATE_SECRET_KEY = plane.p.a.secretKey;
  });
  afterAll(async () => {
    vi.restoreAllMocks();
    process.env = saved;
    rmSync(dir, { recursive: true, force: true });
    await plane?.close();
  });

  it("has the four programs of the guide", () => {
    expect(snippets).toHaveLength(4);
  });

  it("creates a tenant and its owner, and meets the typed problem of a duplicate", async () => {
    await run(0);
    expect(logs.some((l) => /^tenant ten_\S+, owner usr_\S+$/.test(l))).toBe(true);
    expect(logs.some((l) => l.startsWith("already there: "))).toBe(true);
  });

  it("lists every active tenant across pages", async () => {
    const client = createBaseplate({ baseUrl: plane.url, token: plane.p.a.secretKey });
    for (const name of ["Initech", "Umbrella"]) await unwrap(client.POST("/v1/tenants", { body: { name } }));
    logs.length = 0;
    await run(1);
    expect(logs.at(-1)).toBe("3 active tenants");
    expect(logs.filter((l) => l.startsWith("ten_"))).toHaveLength(3);
  });

  it("registers a webhook endpoint, verifies its deliveries and guards the API with the Express middleware", async () => {
    const port = await freePort();
    process.env.APP_URL = `http://127.0.0.1:${port}`;
    process.env.PORT = String(port);
    logs.length = 0;
    await run(2);
    const secretLine = logs.find((l) => l.startsWith("BASEPLATE_WEBHOOK_SECRET=whsec_"));
    expect(secretLine).toBeDefined();
    process.env.BASEPLATE_WEBHOOK_SECRET = (secretLine as string).slice("BASEPLATE_WEBHOOK_SECRET=".length);

    const { server } = (await run(3)) as { server: Server };
    try {
      if (!server.listening) await new Promise((resolve) => server.once("listening", resolve));
      const client = createBaseplate({ baseUrl: plane.url, token: plane.p.a.secretKey });
      const tenant = await unwrap(client.POST("/v1/tenants", { body: { name: "Hooli" } }));
      const expected = `tenant.created tenant/${tenant.id}`;
      for (let i = 0; i < 60 && !logs.some((l) => l.endsWith(expected)); i++) {
        await runDueJobs(plane.t);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(logs.find((l) => l.endsWith(expected))).toMatch(/^webhook msg_\S+: /);

      const forged = await fetch(`http://127.0.0.1:${port}/webhooks/baseplate`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "webhook-id": "msg_forged",
          "webhook-timestamp": String(Math.floor(Date.now() / 1000)),
          "webhook-signature": "v1,AAAA",
        },
        body: "{}",
      });
      expect(forged.status).toBe(400);
      expect(await forged.json()).toEqual({ error: "invalid_signature" });

      const key = issued(
        await unwrap(
          client.POST("/v1/tenants/{tenantId}/keys", {
            params: { path: { tenantId: tenant.id } },
            body: { name: "ERP sync", permissions: ["members:read"] },
          }),
        ),
        "tenantKey",
      );
      const ok = await fetch(`http://127.0.0.1:${port}/api/members`, {
        headers: { authorization: `Bearer ${key.token}` },
      });
      expect(ok.status).toBe(200);
      expect(await ok.json()).toMatchObject({ kind: "tenant_key", tenant: tenant.id });
      const anonymous = await fetch(`http://127.0.0.1:${port}/api/members`);
      expect(anonymous.status).toBe(401);
      expect(anonymous.headers.get("content-type")).toContain("application/problem+json");
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
