/**
 * billing.ts builds the billing scenario's fixtures and measures period-end finalization in one
 * process, no HTTP, on the database of a plane the scenario seeded (environment, meters, plan):
 *
 * - `seed-usage`: writes `--events` usage events of one tenant, spread evenly over the meters' event
 *   types from the subscription's new period start to a minute ago, straight into `usage_event`, and
 *   their minute and hour rollups into `usage_rollup` (what ingestion writes for them: shard 0,
 *   count, sum, extremes, latest); then moves the subscription's period to start 20–23 days ago;
 * - `finalize`: inserts `--count` subscriptions of as many tenants on `--plan-version`, each with
 *   one period just ended and one event per meter in it (events and rollups, as above), then times
 *   `advanceDue` (the `billing.advance_periods` job's work, passes of 200) ending them, for at most
 *   `--duration` seconds, and checks the result: one invoice per ended period, numbers 1..n;
 * - `raw-finalize`: the baseline: the raw driver doing each invoice's row work in its own
 *   transaction (lock the subscription, sum its period's rollups of every meter in one statement,
 *   bump the counter, insert the invoice, renew the subscription) on the same fixtures, in tables
 *   of its own, for at most `--duration` seconds.
 *
 *   node --import tsx bench/processes/billing.ts --engine sqlite|postgres --mode M
 *     [--dir D] [--url U --schema S] --environment E [--tenant T --subscription S --events N]
 *     [--plan-version V --count N --duration S]
 *
 * Prints one JSON line `{"result":{…}}` and exits.
 */
import { parseArgs } from "node:util";
import { type Kysely, sql } from "kysely";
import { type App, createApp, MODULES } from "../../packages/server/src/app.js";
import { loadConfig } from "../../packages/server/src/config.js";
import { billingModule } from "../../packages/server/src/modules/billing/index.js";
import { probeModule } from "../../packages/server/src/testing/probe-module.js";
import { answer, stopOnSignal } from "../lib/lifecycle.js";

const { values } = parseArgs({
  options: {
    engine: { type: "string" },
    mode: { type: "string" },
    dir: { type: "string" },
    url: { type: "string" },
    schema: { type: "string" },
    environment: { type: "string" },
    tenant: { type: "string" },
    subscription: { type: "string" },
    events: { type: "string", default: "1000000" },
    "plan-version": { type: "string" },
    count: { type: "string", default: "10000" },
    duration: { type: "string", default: "5" },
  },
});
const engine = values.engine === "postgres" ? "postgres" : "sqlite";
const environmentId = values.environment ?? "";
const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;

let app: App | null = null;
stopOnSignal(async () => void (await app?.stop()));

async function openApp(): Promise<App> {
  const env: Record<string, string> =
    engine === "postgres"
      ? { BASEPLATE_DATABASE_URL: values.url ?? "", BASEPLATE_DATABASE_SCHEMA: values.schema ?? "" }
      : { BASEPLATE_DATA_DIR: values.dir ?? "" };
  app = await createApp({
    config: loadConfig({ ...env, BASEPLATE_LOG_LEVEL: "warn", BASEPLATE_WORKERS: "false" }),
    // The plane's modules and the probe module, as serve.ts runs them on this database.
    modules: [...MODULES, probeModule],
  });
  await app.start({ listen: false, workers: false });
  return app;
}

// biome-ignore lint/suspicious/noExplicitAny: fixtures write other modules' tables by their SQL names.
type AnyDb = Kysely<any>;

/** monthBefore returns the instant one calendar month (UTC) before `end` (its day kept ≤ 28). */
function monthBefore(end: number): number {
  const d = new Date(end);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() - 1, d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes());
}

/** dayAtMost28 moves `t` back to the 28th of its month when it falls later (no clamped month ends). */
function dayAtMost28(t: number): number {
  const d = new Date(t);
  return d.getUTCDate() > 28 ? t - (d.getUTCDate() - 28) * DAY : t;
}

/**
 * rollupsFromEvents folds the events `where` selects into minute and hour rollups, per meter of
 * their type (shard 0, as on SQLite; on PostgreSQL ingestion spreads a bucket over shards, which
 * queries sum). Event ids sort like their times, so the latest event of a bucket is its max(id).
 */
async function rollupsFromEvents(db: AnyDb, where: string): Promise<void> {
  const value =
    engine === "postgres"
      ? "case when m.aggregation = 'sum' then (e.data->>'v')::float8 else 1 end"
      : "case when m.aggregation = 'sum' then json_extract(e.data, '$.v') else 1 end";
  const latest =
    engine === "postgres"
      ? "(select case when mm.aggregation = 'sum' then (x.data->>'v')::float8 else 1 end from usage_event x join usage_meter mm on mm.id = r.meter_id where x.environment_id = r.environment_id and x.id = r.latest_id)"
      : "(select case when mm.aggregation = 'sum' then json_extract(x.data, '$.v') else 1 end from usage_event x join usage_meter mm on mm.id = r.meter_id where x.environment_id = r.environment_id and x.id = r.latest_id)";
  for (const grain of [MINUTE, HOUR]) {
    await sql
      .raw(
        `insert into usage_rollup (environment_id, meter_id, tenant_id, grain, bucket_start, group_key, shard, n, total, min_value, max_value, latest_time, latest_id, latest_value)
         select r.environment_id, r.meter_id, r.tenant_id, ${grain}, r.bucket_start, '[]', 0, r.n, r.total, r.min_value, r.max_value, r.latest_time, r.latest_id, ${latest}
         from (select e.environment_id, m.id as meter_id, e.tenant_id, (e.time / ${grain}) * ${grain} as bucket_start,
                 count(*) as n, sum(${value}) as total, min(${value}) as min_value, max(${value}) as max_value,
                 max(e.time) as latest_time, max(e.id) as latest_id
               from usage_event e join usage_meter m on m.environment_id = e.environment_id and m.event_type = e.type
               where ${where}
               group by e.environment_id, m.id, e.tenant_id, (e.time / ${grain}) * ${grain}) r`,
      )
      .execute(db);
  }
}

/**
 * analyze vacuums and refreshes PostgreSQL's statistics after a bulk load, as autovacuum does soon
 * after one in production (without the statistics the planner may read a meter's rollups of every
 * tenant; without the vacuum's visibility map no index-only scan skips the heap).
 */
async function analyze(db: AnyDb): Promise<void> {
  if (engine === "postgres") await sql.raw("vacuum analyze").execute(db);
}

function literal(s: string): string {
  if (!/^[\w.-]+$/.test(s)) throw new Error(`unexpected identifier ${s}`);
  return `'${s}'`;
}

async function seedUsage(): Promise<Record<string, number>> {
  const started = performance.now();
  const a = await openApp();
  const db = a.db.kysely as AnyDb;
  const tenantId = values.tenant ?? "";
  const count = Number(values.events);
  const now = Date.now();
  const anchor = dayAtMost28(Math.floor((now - 20 * DAY) / MINUTE) * MINUTE);
  const types = (
    await db.selectFrom("usage_meter").select("event_type").where("environment_id", "=", environmentId).execute()
  ).map((r) => String(r.event_type));
  const typeList = types.map(literal).join(", ");
  const step = (now - MINUTE - anchor) / count;
  const env = literal(environmentId);
  const ten = literal(tenantId);
  // Event g: type g mod (meters), value g mod 1000, time anchor + g × step; received on time.
  const typeOf =
    engine === "postgres"
      ? `(array[${typeList}])[(g % ${types.length}) + 1]`
      : `json_extract('${JSON.stringify(types)}', '$[' || (g % ${types.length}) || ']')`;
  const time =
    engine === "postgres"
      ? `floor(${anchor}::float8 + g * ${step}::float8)::bigint`
      : `cast(${anchor} + g * ${step} as integer)`;
  const id = engine === "postgres" ? "'seed-' || lpad(g::text, 9, '0')" : "'seed-' || printf('%09d', g)";
  const data = engine === "postgres" ? `('{"v":' || (g % 1000) || '}')::jsonb` : `'{"v":' || (g % 1000) || '}'`;
  // In chunks of 100,000 events, so the plane's own writers are not locked out for long (SQLite).
  const chunk = 100_000;
  for (let lo = 0; lo < count; lo += chunk) {
    const hi = Math.min(lo + chunk, count) - 1;
    const series =
      engine === "postgres"
        ? `generate_series(${lo}, ${hi}) g`
        : `(with recursive s(g) as (select ${lo} union all select g + 1 from s where g < ${hi}) select g from s)`;
    await sql
      .raw(
        `insert into usage_event (environment_id, id, tenant_id, type, time, source, data, credential_id, actor_type, received_at)
         select ${env}, ${id}, ${ten}, ${typeOf}, ${time}, null, ${data}, 'key_bench', 'service', ${time} from ${series}`,
      )
      .execute(db);
  }
  await rollupsFromEvents(db, `e.environment_id = ${env} and e.tenant_id = ${ten}`);
  await analyze(db);
  const end = Date.UTC(
    new Date(anchor).getUTCFullYear(),
    new Date(anchor).getUTCMonth() + 1,
    new Date(anchor).getUTCDate(),
    new Date(anchor).getUTCHours(),
    new Date(anchor).getUTCMinutes(),
  );
  await db
    .updateTable("billing_subscription")
    .set({ anchor, period_index: 0, current_period_start: anchor, current_period_end: end })
    .where("id", "=", values.subscription ?? "")
    .execute();
  await a.stop();
  return {
    events: count,
    meters: types.length,
    periodStart: anchor,
    periodEnd: end,
    seedS: (performance.now() - started) / 1000,
  };
}

/** seedDue inserts `count` subscriptions whose first period ended an hour ago, with one event per meter. */
async function seedDue(db: AnyDb, prefix: string): Promise<{ end: number; anchor: number; seedS: number }> {
  const started = performance.now();
  const count = Number(values.count);
  const versionId = values["plan-version"] ?? "";
  const version = await db
    .selectFrom("billing_plan_version")
    .select(["plan_id"])
    .where("id", "=", versionId)
    .executeTakeFirstOrThrow();
  const types = (
    await db.selectFrom("usage_meter").select("event_type").where("environment_id", "=", environmentId).execute()
  ).map((r) => String(r.event_type));
  const end = dayAtMost28(Math.floor((Date.now() - HOUR) / MINUTE) * MINUTE);
  const anchor = monthBefore(end);
  const at = anchor + DAY;
  const chunk = 500;
  for (let i = 0; i < count; i += chunk) {
    const subs: Array<Record<string, unknown>> = [];
    const events: Array<Record<string, unknown>> = [];
    for (let k = i; k < Math.min(i + chunk, count); k++) {
      const tenantId = `ten_${prefix}${String(k).padStart(8, "0")}`;
      subs.push({
        id: `sub_${prefix}${String(k).padStart(8, "0")}`,
        environment_id: environmentId,
        tenant_id: tenantId,
        plan_id: version.plan_id,
        plan_version_id: versionId,
        pending_plan_version_id: null,
        status: "active",
        live_tenant_id: tenantId,
        anchor,
        period_index: 0,
        current_period_start: anchor,
        current_period_end: end,
        trial_end: null,
        cancel_at_period_end: engine === "postgres" ? false : 0,
        canceled_at: null,
        created_at: anchor,
        updated_at: anchor,
      });
      for (const [j, type] of types.entries()) {
        events.push({
          environment_id: environmentId,
          id: `due-${prefix}${String(k).padStart(8, "0")}-${j}`,
          tenant_id: tenantId,
          type,
          time: at + j,
          source: null,
          data: JSON.stringify({ v: 1000 + k }),
          credential_id: "key_bench",
          actor_type: "service",
          received_at: at + j,
        });
      }
    }
    await db.insertInto("billing_subscription").values(subs).execute();
    for (let e = 0; e < events.length; e += 1000) {
      await db
        .insertInto("usage_event")
        .values(events.slice(e, e + 1000))
        .execute();
    }
  }
  await rollupsFromEvents(db, `e.environment_id = ${literal(environmentId)} and e.id like 'due-${prefix}%'`);
  await analyze(db);
  return { end, anchor, seedS: (performance.now() - started) / 1000 };
}

async function finalize(): Promise<Record<string, number>> {
  const a = await openApp();
  const db = a.db.kysely as AnyDb;
  const count = Number(values.count);
  const { seedS } = await seedDue(db, "b");
  const cpu = process.cpuUsage();
  const started = performance.now();
  // Passes of 200 (the job's) until every period ended or `--duration` seconds passed.
  const deadline = started + Number(values.duration) * 1000;
  let ended = 0;
  while (ended < count && performance.now() < deadline) {
    const n = await a.service(billingModule).subscriptions.advanceDue(200, 1);
    if (n === 0) break;
    ended += n;
  }
  const durationS = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  const invoices = await db
    .selectFrom("billing_invoice")
    .select(["number"])
    .where("environment_id", "=", environmentId)
    .where("subscription_id", "like", "sub_b%")
    .orderBy("number")
    .execute();
  const gapFree = invoices.every((r, i) => String(r.number).endsWith(`-${String(i + 1).padStart(6, "0")}`));
  if (invoices.length !== ended || !gapFree) {
    throw new Error(`ended ${ended}, ${invoices.length} invoices of ${count} (gap-free: ${gapFree})`);
  }
  await a.stop();
  return { count: ended, durationS, cpuMs: (used.user + used.system) / 1000, seedS };
}

async function rawFinalize(): Promise<Record<string, number>> {
  const a = await openApp();
  const db = a.db.kysely as AnyDb;
  const { seedS } = await seedDue(db, "r");
  // The baseline's own subscription, invoice and counter tables (same keys as billing's).
  await sql
    .raw(
      "create table raw_subscription as select id, environment_id, tenant_id, plan_version_id, period_index, current_period_start, current_period_end from billing_subscription where id like 'sub_r%'",
    )
    .execute(db);
  await sql.raw("create unique index raw_subscription_pk on raw_subscription (id)").execute(db);
  await db.deleteFrom("billing_subscription").where("id", "like", "sub_r%").execute();
  await sql
    .raw(
      "create table raw_invoice (id text primary key, environment_id text not null, tenant_id text not null, subscription_id text not null, number text not null, period_start bigint not null, period_end bigint not null, total bigint not null, lines text not null, unique (subscription_id, period_start))",
    )
    .execute(db);
  await sql
    .raw(
      "create table raw_counter (environment_id text not null, year integer not null, last_value bigint not null, primary key (environment_id, year))",
    )
    .execute(db);
  const meters = (
    await db
      .selectFrom("usage_meter")
      .select(["id", "aggregation"])
      .where("environment_id", "=", environmentId)
      .execute()
  ).map((r) => ({ id: String(r.id), column: r.aggregation === "sum" ? "total" : "n" }));
  const due = await db.selectFrom("raw_subscription").select("id").orderBy("id").execute();
  const forUpdate = engine === "postgres" ? " for update" : "";
  const cpu = process.cpuUsage();
  const started = performance.now();
  let n = 0;
  const deadline = started + Number(values.duration) * 1000;
  for (const { id } of due) {
    if (performance.now() >= deadline) break;
    await db.transaction().execute(async (tx) => {
      const s = await sql<
        Record<string, unknown>
      >`${sql.raw(`select * from raw_subscription where id = `)}${id}${sql.raw(forUpdate)}`.execute(tx);
      const sub = s.rows[0] as Record<string, string | number>;
      const from = Number(sub.current_period_start);
      const to = Number(sub.current_period_end);
      const parts = meters.map(
        (m) =>
          sql`select ${m.id} as meter_id, coalesce(sum(${sql.ref(m.column)}), 0) as u from usage_rollup where environment_id = ${environmentId} and meter_id = ${m.id} and tenant_id = ${sub.tenant_id} and grain = ${MINUTE} and bucket_start >= ${from} and bucket_start < ${to}`,
      );
      const used = await sql<{ meter_id: string; u: number }>`${sql.join(parts, sql` union all `)}`.execute(tx);
      const lines = used.rows.map((r) => ({ meter: r.meter_id, value: Number(r.u), total: Number(r.u) * 2 }));
      const counter = await sql<{
        last_value: number;
      }>`insert into raw_counter (environment_id, year, last_value) values (${environmentId}, 2027, 1) on conflict (environment_id, year) do update set last_value = raw_counter.last_value + 1 returning last_value`.execute(
        tx,
      );
      const number = `INV-2027-${String(Number(counter.rows[0]?.last_value)).padStart(6, "0")}`;
      await sql`insert into raw_invoice values (${`inv_${id}`}, ${environmentId}, ${sub.tenant_id}, ${id}, ${number}, ${from}, ${to}, ${lines.reduce((t, l) => t + l.total, 0)}, ${JSON.stringify(lines)})`.execute(
        tx,
      );
      await sql`update raw_subscription set period_index = period_index + 1, current_period_start = ${to}, current_period_end = ${to + 30 * DAY} where id = ${id} and period_index = ${sub.period_index}`.execute(
        tx,
      );
    });
    n++;
  }
  const durationS = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  await a.stop();
  return { count: n, durationS, cpuMs: (used.user + used.system) / 1000, seedS };
}

const modes: Record<string, () => Promise<Record<string, number>>> = {
  "seed-usage": seedUsage,
  finalize,
  "raw-finalize": rawFinalize,
};
const mode = modes[values.mode ?? ""];
if (!mode) throw new Error(`unknown --mode ${values.mode}`);
await answer({ result: await mode() });
process.exit(0);
