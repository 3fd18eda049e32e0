/**
 * usage-baseline.ts is the usage scenario's baseline server: a bare Fastify (no logger, no hooks)
 * storing usage events the plainest durable way, with nothing Baseplate does (no credential, no
 * deduplication, no meters, no rollups):
 * - `POST /v1/usage/events`: one single-row insert (its own commit) per request;
 * - `POST /v1/usage/events/batch`: the request's events in one transaction of plain inserts
 *   (SQLite: one prepared statement per row; PostgreSQL: multi-row statements).
 * SQLite uses Baseplate's pragmas (WAL, synchronous=FULL); PostgreSQL a pool of 10.
 *
 *   node --import tsx bench/processes/usage-baseline.ts --port P (--store sqlite --file F | --store postgres --url U --schema S)
 *
 * Prints `{"ready":true,"url":…}` once listening; SIGTERM stops it.
 */
import { parseArgs } from "node:util";
import Fastify from "fastify";
import { answer, stopOnSignal } from "../lib/lifecycle.js";
import { openPgPool, openSqlite } from "../lib/raw-db.js";

const { values } = parseArgs({
  options: {
    port: { type: "string" },
    store: { type: "string" },
    file: { type: "string" },
    url: { type: "string" },
    schema: { type: "string" },
  },
});

interface In {
  id?: unknown;
  type?: unknown;
  subject?: unknown;
  data?: unknown;
}
const COLUMNS = "(environment_id, id, tenant_id, type, time, data, received_at)";
const CREATE = `create table if not exists bare_usage_event (environment_id text not null, id text not null, tenant_id text not null, type text not null, time bigint not null, data text not null, received_at bigint not null, primary key (environment_id, id))`;
const params = (e: In, now: number) => [
  "env_bench",
  String(e.id),
  String(e.subject),
  String(e.type),
  now,
  JSON.stringify(e.data ?? {}),
  now,
];

let insertOne: (e: In) => Promise<void>;
let insertMany: (events: In[]) => Promise<void>;
let close: () => Promise<void>;

if (values.store === "sqlite") {
  const db = openSqlite(values.file as string);
  db.exec(CREATE);
  const stmt = db.prepare(`insert into bare_usage_event ${COLUMNS} values (?, ?, ?, ?, ?, ?, ?)`);
  const many = db.transaction((events: In[], now: number) => {
    for (const e of events) stmt.run(...params(e, now));
  });
  insertOne = async (e) => void stmt.run(...params(e, Date.now()));
  insertMany = async (events) => many(events, Date.now());
  close = async () => void db.close();
} else if (values.store === "postgres") {
  const pool = openPgPool(values.url as string, values.schema as string);
  await pool.query(CREATE);
  const statement = (rows: number) =>
    `insert into bare_usage_event ${COLUMNS} values ${Array.from({ length: rows }, (_, r) => `(${Array.from({ length: 7 }, (_, i) => `$${r * 7 + i + 1}`).join(", ")})`).join(", ")}`;
  const one = statement(1);
  insertOne = async (e) => void (await pool.query(one, params(e, Date.now())));
  insertMany = async (events) => {
    const client = await pool.connect();
    try {
      await client.query("begin");
      const now = Date.now();
      for (let i = 0; i < events.length; i += 1000) {
        const chunk = events.slice(i, i + 1000);
        await client.query(
          statement(chunk.length),
          chunk.flatMap((e) => params(e, now)),
        );
      }
      await client.query("commit");
    } catch (err) {
      await client.query("rollback");
      throw err;
    } finally {
      client.release();
    }
  };
  close = () => pool.end();
} else {
  throw new Error("--store sqlite|postgres");
}

const valid = (e: In) => typeof e?.id === "string" && typeof e.type === "string" && typeof e.subject === "string";
const app = Fastify({ bodyLimit: 4 * 1024 * 1024 });
app.post<{ Body: In }>("/v1/usage/events", async (req, reply) => {
  if (!valid(req.body)) return reply.code(400).send({ error: "id, type and subject are required" });
  await insertOne(req.body);
  return { id: req.body.id, status: "accepted" };
});
app.post<{ Body: { events?: In[] } }>("/v1/usage/events/batch", async (req, reply) => {
  const events = req.body?.events;
  if (!Array.isArray(events) || !events.every(valid)) return reply.code(400).send({ error: "events" });
  await insertMany(events);
  return { accepted: events.length };
});

const url = await app.listen({ host: "127.0.0.1", port: Number(values.port ?? "0") });
stopOnSignal(async () => {
  await app.close();
  await close();
});
await answer({ ready: true, url, pid: process.pid });
