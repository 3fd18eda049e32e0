import type { AddressInfo } from "node:net";
import { createBaseplate, unwrap } from "@baseplate/sdk";
import { baseplateAuth as expressAuth, requirePermission as expressRequire } from "@baseplate/sdk/express";
import { baseplateAuth as fastifyAuth, requirePermission as fastifyRequire } from "@baseplate/sdk/fastify";
import { withBaseplate } from "@baseplate/sdk/next";
import express from "express";
import Fastify from "fastify";
import { afterAll, beforeAll, expect, it } from "vitest";
import { describeEachEngine } from "../src/testing/harness.js";
import { issued, type ListeningPlane, listenPlane } from "../src/testing/sdk-plane.js";

type Call = (
  token: string | null,
  path?: string,
) => Promise<{ status: number; body: Record<string, unknown>; type: string }>;

describeEachEngine("@baseplate/sdk middleware (Express, Fastify, Next)", (engine) => {
  let plane: ListeningPlane;
  let tenantId: string;
  /** Tenant keys: `reader` has members:read, `revoked` was revoked, `foreign` is of environment B. */
  const keys = { reader: "", revoked: "", foreign: "" };
  const closers: (() => Promise<void>)[] = [];
  const calls: Record<string, Call> = {};

  beforeAll(async () => {
    plane = await listenPlane(engine);
    const a = createBaseplate({ baseUrl: plane.url, token: plane.p.a.secretKey });
    const b = createBaseplate({ baseUrl: plane.url, token: plane.p.b.secretKey });
    tenantId = (await unwrap(a.POST("/v1/tenants", { body: { name: "Guarded" } }))).id;
    const key = async (client: typeof a, tenant: string, permissions: string[]) =>
      issued(
        await unwrap(
          client.POST("/v1/tenants/{tenantId}/keys", {
            params: { path: { tenantId: tenant } },
            body: { name: "k", permissions },
          }),
        ),
        "tenantKey",
      );
    keys.reader = (await key(a, tenantId, ["members:read"])).token;
    const revoked = await key(a, tenantId, ["members:read"]);
    await unwrap(
      a.POST("/v1/tenants/{tenantId}/keys/{keyId}/revoke", { params: { path: { tenantId, keyId: revoked.id } } }),
    );
    keys.revoked = revoked.token;
    const tenantB = (await unwrap(b.POST("/v1/tenants", { body: { name: "Elsewhere" } }))).id;
    keys.foreign = (await key(b, tenantB, ["members:read"])).token;

    const options = { baseUrl: plane.url, secretKey: plane.p.a.secretKey };

    const app = express();
    app.get("/me", expressAuth(options), (req, res) => {
      res.json({
        principal: req.baseplate?.principal,
        tenant: req.baseplate?.tenant,
        permissions: req.baseplate?.permissions,
      });
    });
    app.get("/admin", expressAuth(options), expressRequire("tenants:update"), (_req, res) => {
      res.json({ ok: true });
    });
    const server = app.listen(0, "127.0.0.1");
    await new Promise((resolve) => server.once("listening", resolve));
    const expressUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    closers.push(() => new Promise((resolve) => server.close(() => resolve())));
    calls.express = httpCall(expressUrl);

    const fastify = Fastify();
    await fastify.register(fastifyAuth, options);
    fastify.get("/me", async (request) => ({
      principal: request.baseplate?.principal,
      tenant: request.baseplate?.tenant,
      permissions: request.baseplate?.permissions,
    }));
    fastify.get("/admin", { preHandler: fastifyRequire("tenants:update") }, async () => ({ ok: true }));
    const fastifyUrl = await fastify.listen({ host: "127.0.0.1", port: 0 });
    closers.push(() => fastify.close());
    calls.fastify = httpCall(fastifyUrl);

    const me = withBaseplate(options, async (_request, auth) =>
      Response.json({ principal: auth.principal, tenant: auth.tenant, permissions: auth.permissions }),
    );
    const admin = withBaseplate({ ...options, permission: "tenants:update" }, async () => Response.json({ ok: true }));
    calls.next = async (token, path = "/me") => {
      const request = new Request(`http://app.test${path}`, {
        headers: token ? { authorization: `Bearer ${token}` } : {},
      });
      const response = await (path === "/admin" ? admin : me)(request, {});
      return {
        status: response.status,
        body: (await response.json()) as Record<string, unknown>,
        type: response.headers.get("content-type") ?? "",
      };
    };
  });

  afterAll(async () => {
    for (const close of closers) await close();
    await plane?.close();
  });

  for (const framework of ["express", "fastify", "next"]) {
    it(`${framework}: a valid tenant key reaches the handler with its principal, tenant and permissions`, async () => {
      const res = await (calls[framework] as Call)(keys.reader);
      expect(res.status).toBe(200);
      expect(res.body.tenant).toEqual({ id: tenantId });
      expect(res.body.permissions).toEqual(["members:read"]);
      expect(res.body.principal).toMatchObject({ type: "tenant_key", kind: "tenant_key", environmentId: plane.p.a.id });
    });

    it(`${framework}: missing, revoked and other-environment credentials are 401 problems; a missing permission is 403`, async () => {
      const call = calls[framework] as Call;
      const missing = await call(null);
      expect(missing.status).toBe(401);
      expect(missing.type).toContain("application/problem+json");
      expect(missing.body.code).toBe("unauthenticated");
      for (const token of [keys.revoked, keys.foreign, "bp_tk_forged"]) {
        const refused = await call(token);
        expect(refused.status, token.slice(0, 12)).toBe(401);
        expect(refused.body.code).toBe("invalid_credentials");
      }
      const forbidden = await call(keys.reader, "/admin");
      expect(forbidden.status).toBe(403);
      expect(forbidden.body.code).toBe("forbidden");
    });
  }

  it("a revocation reaches a cached credential within cacheTtlMs; with cacheTtlMs 0 at once", async () => {
    const a = createBaseplate({ baseUrl: plane.url, token: plane.p.a.secretKey });
    const key = issued(
      await unwrap(
        a.POST("/v1/tenants/{tenantId}/keys", {
          params: { path: { tenantId } },
          body: { name: "soon revoked", permissions: ["members:read"] },
        }),
      ),
      "tenantKey",
    );
    const cached = withBaseplate(
      { baseUrl: plane.url, secretKey: plane.p.a.secretKey, cacheTtlMs: 60_000 },
      async () => new Response("ok"),
    );
    const uncached = withBaseplate(
      { baseUrl: plane.url, secretKey: plane.p.a.secretKey, cacheTtlMs: 0 },
      async () => new Response("ok"),
    );
    const request = () => new Request("http://app.test/", { headers: { authorization: `Bearer ${key.token}` } });
    expect((await cached(request(), {})).status).toBe(200);
    expect((await uncached(request(), {})).status).toBe(200);
    await unwrap(
      a.POST("/v1/tenants/{tenantId}/keys/{keyId}/revoke", { params: { path: { tenantId, keyId: key.id } } }),
    );
    expect((await uncached(request(), {})).status).toBe(401);
    // The cached answer stands until its TTL: the documented revocation latency.
    expect((await cached(request(), {})).status).toBe(200);
  });
});

function httpCall(base: string): Call {
  return async (token, path = "/me") => {
    const response = await fetch(`${base}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
    return {
      status: response.status,
      body: (await response.json()) as Record<string, unknown>,
      type: response.headers.get("content-type") ?? "",
    };
  };
}
