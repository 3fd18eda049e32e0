import { z } from "zod";
import type { Db } from "../db/db.js";
import type { PlaneMigrator } from "../db/migrator.js";
import { ConsoleAssets, registerConsole } from "./console.js";
import { DocsAssets } from "./docs.js";
import type { Metrics } from "./metrics.js";
import { defineRoute } from "./route.js";
import type { HttpServer } from "./server.js";

/**
 * registerPlatformRoutes adds the plane's operational endpoints: liveness, readiness, Prometheus
 * metrics, the OpenAPI document, the interactive docs and the operator console (static files, kept
 * out of the API document like the docs).
 */
export function registerPlatformRoutes(
  http: HttpServer,
  deps: { db: Db; migrator: PlaneMigrator; metrics: Metrics; openapi: () => unknown; console?: ConsoleAssets },
): void {
  http.register(
    defineRoute({
      method: "GET",
      url: "/healthz",
      operationId: "getHealth",
      summary: "Liveness: the process is up and serving",
      tags: ["Operations"],
      auth: "none",
      accessLog: false,
      response: { status: 200, schema: z.object({ status: z.literal("ok") }), description: "The process is alive." },
      handler: async () => ({ status: "ok" as const }),
    }),
  );

  const readiness = z.object({
    status: z.enum(["ready", "unavailable"]),
    checks: z.object({
      database: z.enum(["ok", "unreachable"]),
      migrations: z.enum(["ok", "pending", "unknown"]),
    }),
  });
  http.register(
    defineRoute({
      method: "GET",
      url: "/readyz",
      operationId: "getReadiness",
      summary: "Readiness: the database answers and every migration is applied",
      description: "Answers 503 with the same shape, naming the failing check, while the plane cannot serve traffic.",
      tags: ["Operations"],
      auth: "none",
      accessLog: false,
      response: { status: 200, schema: readiness, description: "Ready (503 with the same shape when not)." },
      handler: async ({ setStatus }) => {
        const checks: z.infer<typeof readiness>["checks"] = { database: "ok", migrations: "unknown" };
        try {
          await deps.db.ping();
          checks.migrations = (await deps.migrator.pending()).length === 0 ? "ok" : "pending";
        } catch {
          checks.database = "unreachable";
        }
        const ready = checks.database === "ok" && checks.migrations === "ok";
        if (!ready) setStatus(503);
        return { status: ready ? ("ready" as const) : ("unavailable" as const), checks };
      },
    }),
  );

  http.fastify.get("/metrics", { config: { accessLog: false } }, async (_req, reply) => {
    const body = await deps.metrics.registry.metrics();
    return reply.type(deps.metrics.registry.contentType).send(body);
  });

  http.fastify.get("/openapi.json", { config: { accessLog: false } }, async (_req, reply) =>
    reply.type("application/json; charset=utf-8").send(JSON.stringify(deps.openapi())),
  );

  const assets = new DocsAssets();
  http.fastify.get("/docs", { config: { accessLog: false } }, async (_req, reply) =>
    reply.type("text/html; charset=utf-8").header("content-security-policy", DocsAssets.csp).send(DocsAssets.html),
  );
  http.fastify.get("/docs/init.js", { config: { accessLog: false } }, async (_req, reply) =>
    reply.type("text/javascript; charset=utf-8").send(DocsAssets.init),
  );
  http.fastify.get<{ Params: { asset: string } }>(
    "/docs/:asset",
    { config: { accessLog: false } },
    async (req, reply) => {
      const asset = assets.asset(req.params.asset);
      if (!asset) return reply.callNotFound();
      return reply.type(asset.contentType).header("cache-control", "public, max-age=3600").send(asset.body);
    },
  );

  registerConsole(http.fastify, deps.console ?? new ConsoleAssets());
}
