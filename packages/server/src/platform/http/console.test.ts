import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Fastify, { type FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../../testing/harness.js";
import { ConsoleAssets, registerConsole } from "./console.js";

// Static serving of the operator console: a fixture build in a temporary folder (and a missing one)
// behind a bare Fastify, then the real plane's /console (built or not) for its headers and its
// absence from the API document. No database is involved: SQLite alone.

let root: string;
let built: FastifyInstance;
let missing: FastifyInstance;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "console-"));
  const dist = join(root, "dist");
  mkdirSync(join(dist, "assets"), { recursive: true });
  writeFileSync(join(dist, "index.html"), "<!doctype html><title>console</title>");
  writeFileSync(join(dist, "portal.html"), "<!doctype html><title>portal</title>");
  writeFileSync(join(dist, "assets", "index-a1b2c3.js"), "console.log(1)");
  writeFileSync(join(dist, "assets", "index-d4e5f6.css"), "body{}");
  writeFileSync(join(dist, "favicon.svg"), "<svg/>");
  writeFileSync(join(dist, "notes.md"), "not a served type");
  writeFileSync(join(root, "secret.txt"), "outside the build");
  symlinkSync(join(root, "secret.txt"), join(dist, "link.txt"));
  built = Fastify();
  registerConsole(built, new ConsoleAssets(dist));
  missing = Fastify();
  registerConsole(missing, new ConsoleAssets(join(root, "nowhere")));
});
afterAll(async () => {
  await built?.close();
  await missing?.close();
  rmSync(root, { recursive: true, force: true });
});

describe("console static files", () => {
  it("serves index.html at /console with a strict CSP and no caching without revalidation", async () => {
    for (const url of ["/console", "/console/"]) {
      const res = await built.inject({ url });
      expect(res.statusCode).toBe(200);
      expect(res.headers["content-type"]).toBe("text/html; charset=utf-8");
      expect(res.headers["cache-control"]).toBe("no-cache");
      expect(res.headers["content-security-policy"]).toBe(ConsoleAssets.csp);
      expect(res.body).toContain("<title>console</title>");
    }
    expect(ConsoleAssets.csp).toContain("script-src 'self';");
    expect(ConsoleAssets.csp).not.toContain("unsafe-inline");
    expect(ConsoleAssets.csp).toContain("frame-ancestors 'none'");
  });

  it("serves the tenant portal's page at /portal with its own strict CSP and no referrer", async () => {
    const res = await built.inject({ url: "/portal" });
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain("<title>portal</title>");
    expect(res.headers["content-security-policy"]).toBe(ConsoleAssets.portalCsp);
    expect(res.headers["referrer-policy"]).toBe("no-referrer");
    expect(ConsoleAssets.portalCsp).not.toContain("unsafe-inline");
    expect(ConsoleAssets.portalCsp).toContain("script-src 'self';");
    expect(ConsoleAssets.portalCsp).toContain("img-src 'self' data: https:;");
    expect((await missing.inject({ url: "/portal" })).statusCode).toBe(503);
    // The console's client routes do not reach it, nor it them.
    expect((await built.inject({ url: "/portal/x" })).statusCode).toBe(404);
  });

  it("serves hashed assets as immutable with their content type", async () => {
    const js = await built.inject({ url: "/console/assets/index-a1b2c3.js" });
    expect(js.statusCode).toBe(200);
    expect(js.headers["content-type"]).toBe("text/javascript; charset=utf-8");
    expect(js.headers["cache-control"]).toBe("public, max-age=31536000, immutable");
    expect(js.body).toBe("console.log(1)");
    const css = await built.inject({ url: "/console/assets/index-d4e5f6.css" });
    expect(css.headers["content-type"]).toBe("text/css; charset=utf-8");
    const icon = await built.inject({ url: "/console/favicon.svg" });
    expect(icon.headers["content-type"]).toBe("image/svg+xml");
    expect(icon.headers["cache-control"]).toBe("no-cache");
  });

  it("answers index.html for client routes, 404 for missing files", async () => {
    for (const url of ["/console/projects", "/console/environments/env_1", "/console/projects/prj_1/"]) {
      const res = await built.inject({ url });
      expect(res.statusCode, url).toBe(200);
      expect(res.body, url).toContain("<title>console</title>");
    }
    for (const url of ["/console/assets/missing-0000.js", "/console/missing.css", "/console/notes.md"]) {
      expect((await built.inject({ url })).statusCode, url).toBe(404);
    }
  });

  it("lists no directory and serves nothing outside the build", async () => {
    const listing = await built.inject({ url: "/console/assets/" });
    expect(listing.statusCode).toBe(404);
    expect(listing.body).not.toContain("index-a1b2c3");
    for (const url of [
      "/console/../secret.txt",
      "/console/..%2fsecret.txt",
      "/console/%2e%2e/secret.txt",
      "/console/assets/..%2f..%2fsecret.txt",
      "/console/link.txt",
      "/console/%2e%2e%2f%2e%2e%2fpackage.json",
    ]) {
      const res = await built.inject({ url });
      expect(res.body, url).not.toContain("outside the build");
      expect(res.statusCode === 404 || res.body.includes("<title>console</title>"), url).toBe(true);
    }
  });

  it("says how to build the console when it is not built", async () => {
    for (const url of ["/console", "/console/projects"]) {
      const res = await missing.inject({ url });
      expect(res.statusCode).toBe(503);
      expect(res.headers["content-type"]).toBe("text/html; charset=utf-8");
      expect(res.headers["content-security-policy"]).toBe(ConsoleAssets.csp);
      expect(res.body).toContain("not built");
      expect(res.body).toContain("npm run build --workspace @baseplate/console");
    }
  });
});

describe("the plane's /console", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp("sqlite", { plane: true });
  });
  afterAll(async () => t?.close());

  it("answers with the console's CSP and nosniff, and stays out of the API document", async () => {
    const res = await t.inject({ url: "/console" });
    expect([200, 503]).toContain(res.statusCode);
    expect(res.headers["content-security-policy"]).toBe(ConsoleAssets.csp);
    expect(res.headers["x-content-type-options"]).toBe("nosniff");
    const doc = (await t.inject({ url: "/openapi.json" })).json() as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths).filter((p) => p.startsWith("/console"))).toEqual([]);
  });
});
