/**
 * bare-fastify.ts is the "same route shape" baseline server: a bare Fastify (no logger, no
 * hooks) with `GET /healthz` answering `{"status":"ok"}` and, when a store is given,
 * `POST /v1/probe/items` doing one raw single-row insert and answering 201 with the item. With
 * `--routes '<JSON array of BareJsonRoute>'` (lib/servers.ts) it also serves fixed JSON documents
 * on authenticated GET (or POST) routes (e.g. `/v1/tenants/:tenantId`): the bearer token and the path
 * parameters are compared (401 / 404 otherwise), then the document is returned (Fastify
 * serialises it per request).
 *
 *   node --import tsx bench/processes/bare-fastify.ts --port 40123 [--store sqlite --file F]
 *     [--store postgres --url U --schema S] [--table T] [--routes JSON]
 *
 * Prints `{"ready":true,"url":…}` once listening; SIGTERM stops it.
 */
import { parseArgs } from "node:util";
import Fastify from "fastify";
import { answer, stopOnSignal } from "../lib/lifecycle.js";
import {
  createItemTableSql,
  insertItemSql,
  itemParams,
  newRawItem,
  openPgPool,
  openSqlite,
  type RawItem,
} from "../lib/raw-db.js";

const { values } = parseArgs({
  options: {
    port: { type: "string" },
    store: { type: "string", default: "none" },
    file: { type: "string" },
    url: { type: "string" },
    schema: { type: "string" },
    table: { type: "string", default: "fastify_item" },
    routes: { type: "string", default: "[]" },
  },
});
const port = Number(values.port ?? "0");
const table = values.table ?? "fastify_item";

let insert: ((item: RawItem) => Promise<void>) | null = null;
let closeStore: () => Promise<void> = async () => undefined;

if (values.store === "sqlite") {
  if (!values.file) throw new Error("--store sqlite needs --file");
  const db = openSqlite(values.file);
  for (const statement of createItemTableSql(table)) db.exec(statement);
  const stmt = db.prepare(insertItemSql("sqlite", table));
  insert = async (item) => void stmt.run(...itemParams(item));
  closeStore = async () => void db.close();
} else if (values.store === "postgres") {
  if (!values.url || !values.schema) throw new Error("--store postgres needs --url and --schema");
  const pool = openPgPool(values.url, values.schema);
  for (const statement of createItemTableSql(table)) await pool.query(statement);
  const text = insertItemSql("postgres", table);
  insert = async (item) => void (await pool.query(text, itemParams(item)));
  closeStore = () => pool.end();
} else if (values.store !== "none") {
  throw new Error(`unknown --store ${values.store}`);
}

const app = Fastify();
app.get("/healthz", async () => ({ status: "ok" }));
const write = insert;
if (write) {
  app.post<{ Body: { name?: unknown } }>("/v1/probe/items", async (req, reply) => {
    const name = req.body?.name;
    if (typeof name !== "string" || name.length === 0 || name.length > 200) {
      return reply.code(400).send({ error: "name must be a string of 1 to 200 characters" });
    }
    const item = newRawItem(name);
    await write(item);
    return reply.code(201).send({ id: item.id, name: item.name, createdAt: item.createdAt });
  });
}

interface JsonRoute {
  path: string;
  method?: "GET" | "POST";
  bearer: string;
  params?: Record<string, string>;
  body: unknown;
}
for (const route of JSON.parse(values.routes ?? "[]") as JsonRoute[]) {
  const expected = `Bearer ${route.bearer}`;
  const params = Object.entries(route.params ?? {});
  app.route<{ Params: Record<string, string> }>({
    method: route.method ?? "GET",
    url: route.path,
    handler: async (req, reply) => {
      if (req.headers.authorization !== expected) return reply.code(401).send({ error: "unauthenticated" });
      for (const [name, value] of params) {
        if (req.params[name] !== value) return reply.code(404).send({ error: "not found" });
      }
      return route.body;
    },
  });
}

const url = await app.listen({ host: "127.0.0.1", port });
stopOnSignal(async () => {
  await app.close();
  await closeStore();
});
await answer({ ready: true, url, pid: process.pid });
