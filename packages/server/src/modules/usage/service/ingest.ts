import { createHash } from "node:crypto";
import type { Selectable } from "kysely";
import type { TenantAccess } from "../../../platform/access.js";
import { OwnedCache } from "../../../platform/cache.js";
import { afterCommit, type Tx, type TypedDb, toJson } from "../../../platform/db/db.js";
import { AppError, type ErrorCode } from "../../../platform/errors.js";
import type { ModuleContext } from "../../../platform/module.js";
import type { ActionContext } from "../../../platform/principal.js";
import type { TenancyService } from "../../tenancy/index.js";
import { UsageErrors } from "../errors.js";
import { at, depthOf } from "../internal/rows.js";
import { type RollupDelta, UsageStore } from "../internal/store.js";
import { METERS_TOPIC } from "../internal/topics.js";
import { EVENT_LIMITS, type IngestResult, UsageEventInput } from "../schemas.js";
import type { UsageMeterTable, UsageTables } from "../tables.js";

const MINUTE = 60_000;
const HOUR = 3_600_000;
const GRAINS = [MINUTE, HOUR] as const;
/** ROLLUP_SHARDS: rows per rollup bucket on PostgreSQL (see `UsageRollupTable.shard`). */
const ROLLUP_SHARDS = 8;

/** Problem is a per-item refusal: the code of the single-event route's problem, and its detail. */
interface Problem {
  code: ErrorCode;
  detail: string;
}

/** Prepared is one event after the checks that need no database: ready for the transaction. */
export interface Prepared {
  index: number;
  id: string | null;
  tenantId: string | null;
  type: string;
  time: number;
  source: string | null;
  data: Record<string, unknown>;
  problem?: Problem;
}

/** Reporter is who reported events: stored with each event (`system` for another module's report). */
export interface Reporter {
  credentialId: string;
  actorType: string;
}

/** ReportInput is one usage event another module reports through the service (`UsageService.report`). */
export interface ReportInput {
  environmentId: string;
  tenantId: string;
  /** id: unique per environment for this usage (e.g. `storage:<fileId>:<day>`); a repeat counts once. */
  id: string;
  type: string;
  /** time: epoch ms (default now); within the accepted window like any event. */
  time?: number;
  data?: Record<string, unknown>;
  /** source: the reporting module's name. */
  source: string;
}

/**
 * derivedEventId is the id of an event reported with a `callId`: a hash of the credential and the
 * call id, so the same call retried by the same credential is the same event, and no other
 * credential (nor any client-chosen id, which may not start with `callid:`) can spell it.
 */
export function derivedEventId(credentialId: string, callId: string): string {
  const digest = createHash("sha256").update(`${credentialId}\n${callId}`).digest("base64url");
  return `callid:${digest.slice(0, 32)}`;
}

/**
 * IngestService accepts usage events: one, or batches of up to 1,000 answered item by item. Each
 * event is stored once per (environment, id): the insert that meets an existing id inserts nothing,
 * and only the events it did insert are folded into the rollups, in the same transaction. There is
 * no window between a check and an insert: a concurrent copy of an event waits on the primary key
 * (PostgreSQL) or runs after the first commit (SQLite), and is then a `duplicate`.
 */
export class IngestService {
  readonly #db: TypedDb<UsageTables>;
  readonly #store: UsageStore;
  /** #meterCache: the active meters of an event type (`<environment>\n<type>`), evicted on METERS_TOPIC. */
  readonly #meterCache: OwnedCache<MeterRow[]>;

  constructor(
    private readonly m: ModuleContext,
    private readonly tenancy: TenancyService,
  ) {
    this.#db = m.db.tables<UsageTables>();
    this.#store = new UsageStore(m.db.engine);
    this.#meterCache = new OwnedCache(m.bus, [METERS_TOPIC]);
  }

  /** ingestOne: the single-event route. A refused event is a problem (4xx); nothing is stored. */
  async ingestOne(ctx: ActionContext, input: UsageEventInput): Promise<IngestResult> {
    const access = await this.m.access.require(ctx, "usage:report");
    const [item] = await this.#prepare(access, [input], true);
    const prepared = item as Prepared;
    if (prepared.problem) throw problemError(prepared.problem);
    // Without an Idempotency-Key to record, one statement is the whole write (PostgreSQL).
    const alone = ctx.idempotency ? null : await this.applyAlone(access.environmentId, prepared, reporterOf(access));
    if (alone) return alone;
    return this.m.db.write(ctx, async (tx) => {
      const [result] = await this.apply(tx, access.environmentId, [prepared], reporterOf(access));
      const r = result as IngestResult;
      if (r.problem) throw new AppError(codeOf(r.problem.code), r.problem.detail);
      return r;
    });
  }

  /** ingestBatch: up to 1,000 events, each answered on its own; the accepted ones commit together. */
  async ingestBatch(ctx: ActionContext, items: unknown[]) {
    const access = await this.m.access.require(ctx, "usage:report");
    const prepared = await this.#prepare(access, items, false);
    const results = await this.m.db.write(ctx, (tx) =>
      this.apply(tx, access.environmentId, prepared, reporterOf(access)),
    );
    const count = (s: IngestResult["status"]) => results.filter((r) => r.status === s).length;
    return {
      accepted: count("accepted"),
      duplicates: count("duplicate"),
      rejected: count("rejected"),
      results: results.map((r, index) => ({ index, ...r })),
    };
  }

  /**
   * report records usage another module measured (storage bytes, webhook deliveries), for a tenant it
   * already knows. Inside `tx` it commits with the caller's change; without, in its own transaction.
   * An event of a type no meter counts is answered `rejected` (`unknown_event_type`), not thrown.
   */
  async report(input: ReportInput, tx?: Tx): Promise<IngestResult> {
    const now = this.m.clock.now();
    const item: Prepared = {
      index: 0,
      id: input.id,
      tenantId: input.tenantId,
      type: input.type,
      time: input.time ?? now,
      source: input.source,
      data: input.data ?? {},
    };
    const problem = this.checkEvent(item.time, item.data, now);
    if (problem) return rejected(item, problem);
    const reporter = { credentialId: `module:${input.source}`, actorType: "system" };
    const run = async (t: Tx) => (await this.apply(t, input.environmentId, [item], reporter))[0] as IngestResult;
    return tx ? run(tx) : this.m.db.write({}, run);
  }

  /** #prepare runs every check that needs no transaction, and resolves subjects to tenants. */
  async #prepare(access: TenantAccess, items: unknown[], single: boolean): Promise<Prepared[]> {
    const now = this.m.clock.now();
    const p = access.principal;
    const out: Prepared[] = [];
    /** subjectOf: the subject each item names that is still to resolve (by item index). */
    const subjectOf: Array<string | undefined> = new Array(items.length);
    for (const [index, raw] of items.entries()) {
      const base: Prepared = { index, id: null, tenantId: null, type: "", time: now, source: null, data: {} };
      const fast = single ? (raw as UsageEventInput) : fastParse(raw);
      const parsed = fast ? { success: true as const, data: fast } : UsageEventInput.safeParse(raw);
      if (!parsed.success) {
        const detail = parsed.error.issues
          .slice(0, 5)
          .map((i) => `${["events", index, ...i.path].join(".")}: ${i.message}`)
          .join("; ");
        out.push({ ...base, problem: { code: UsageErrors.invalid_event, detail } });
        continue;
      }
      const e = parsed.data;
      const item: Prepared = {
        ...base,
        id: e.callId !== undefined ? derivedEventId(p.credentialId, e.callId) : (e.id as string),
        type: e.type,
        time: e.time === undefined ? now : Date.parse(e.time),
        source: e.source ?? null,
        data: e.data,
      };
      if (p.actorType === "agent" && e.callId === undefined) {
        item.problem = {
          code: UsageErrors.call_id_required,
          detail: "Agent keys report usage with `callId` (the tool call's id), never a chosen `id`.",
        };
      } else {
        const problem = this.checkEvent(item.time, item.data, now);
        if (problem) item.problem = problem;
      }
      // The subject: confined to the caller's tenant; environment keys must name one.
      if (access.tenantId !== null) {
        item.tenantId = e.subject === undefined || e.subject === access.tenantId ? access.tenantId : null;
        if (item.tenantId === null) subjectOf[index] = e.subject;
      } else if (e.subject === undefined) {
        item.problem ??= {
          code: UsageErrors.subject_required,
          detail: "Name the tenant in `subject` (its id or externalId).",
        };
      } else {
        subjectOf[index] = e.subject;
      }
      out.push(item);
    }
    // Subjects to resolve: external ids (and, for tenant-bound callers, anything but their id).
    const subjects = out.flatMap((i) => {
      const s = subjectOf[i.index];
      return s !== undefined && !i.problem ? [s] : [];
    });
    const resolved = await this.tenancy.tenants.resolveSubjects(access.environmentId, subjects);
    for (const item of out) {
      const subject = subjectOf[item.index];
      if (subject === undefined || item.problem) continue;
      const tenant = resolved.get(subject);
      if (!tenant || (access.tenantId !== null && tenant.id !== access.tenantId)) {
        item.problem = {
          code: UsageErrors.subject_not_found,
          detail: `Subject ${subject} names no tenant of this environment${access.tenantId !== null ? " you may report for" : ""}.`,
        };
      } else if (tenant.state === "deactivated") {
        item.problem = {
          code: UsageErrors.tenant_deactivated,
          detail: `Tenant ${tenant.id} is deactivated: it accepts no more usage.`,
        };
      } else {
        item.tenantId = tenant.id;
      }
    }
    return out;
  }

  /** checkEvent checks an event's time window and the size and depth of its data. */
  checkEvent(time: number, data: Record<string, unknown>, now: number): Problem | null {
    if (!Number.isFinite(time) || time < now - EVENT_LIMITS.maxBackMs || time > now + EVENT_LIMITS.maxAheadMs) {
      return {
        code: UsageErrors.event_out_of_window,
        detail: "time must be at most 35 days in the past and at most 5 minutes in the future.",
      };
    }
    if (depthOf(data, EVENT_LIMITS.dataMaxDepth) > EVENT_LIMITS.dataMaxDepth) {
      return { code: UsageErrors.invalid_event, detail: `data nests deeper than ${EVENT_LIMITS.dataMaxDepth} levels.` };
    }
    const json = JSON.stringify(data);
    jsonOf.set(data, json);
    if (Buffer.byteLength(json) > EVENT_LIMITS.dataMaxBytes) {
      return {
        code: UsageErrors.invalid_event,
        detail: `data is larger than ${EVENT_LIMITS.dataMaxBytes} bytes as JSON.`,
      };
    }
    return null;
  }

  /**
   * apply stores the prepared events in `tx`: it reads the active meters of their types (share-locked
   * against a definition change), refuses events whose values do not fit, inserts the rest once per
   * id, and folds only the newly inserted ones into the rollups. Returns one result per item.
   */
  async apply(tx: Tx, environmentId: string, items: Prepared[], reporter: Reporter): Promise<IngestResult[]> {
    const results: IngestResult[] = items.map((i) =>
      i.problem ? rejected(i, i.problem) : { id: i.id, status: "accepted", tenantId: i.tenantId },
    );
    const live = items.filter((i) => !i.problem);
    if (live.length === 0) return results;
    const meters = await this.#meters(tx, environmentId, [...new Set(live.map((i) => i.type))]);

    // Measure each event under each of its meters; an event that does not fit one is refused whole.
    const measured = new Map<number, Measured[]>();
    const seen = new Set<string>();
    const rows: unknown[][] = [];
    const now = this.m.clock.now();
    for (const item of live) {
      const ms = measureAll(meters.get(item.type), item);
      if (!Array.isArray(ms)) {
        results[item.index] = rejected(item, ms);
        continue;
      }
      const id = item.id as string;
      if (seen.has(id)) {
        results[item.index] = { id, status: "duplicate", tenantId: item.tenantId };
        continue;
      }
      seen.add(id);
      measured.set(item.index, ms);
      rows.push(eventRow(environmentId, item, reporter, now));
    }
    if (rows.length === 0) return results;
    rows.sort((a, b) => ((a[1] as string) < (b[1] as string) ? -1 : 1));
    const inserted = await this.#store.insertEvents(tx, rows);

    const deltas = new Map<string, RollupDelta>();
    // One shard per transaction (PostgreSQL): concurrent writers of one bucket mostly meet no lock.
    const shard = this.#shard();
    const distinct = new Map<string, unknown[]>();
    const tenants = new Set<string>();
    for (const item of live) {
      const ms = measured.get(item.index);
      if (!ms) continue;
      const id = item.id as string;
      if (!inserted.has(id)) {
        results[item.index] = { id, status: "duplicate", tenantId: item.tenantId };
        continue;
      }
      tenants.add(item.tenantId as string);
      fold(deltas, distinct, environmentId, item, ms, shard);
    }
    await this.#store.upsertRollups(tx, [...deltas.values()]);
    if (distinct.size > 0) await this.#store.insertDistinct(tx, [...distinct.values()]);
    if (tenants.size > 0) afterCommit(tx, () => this.onCounted?.(environmentId, tenants));
    return results;
  }

  /**
   * applyAlone stores one prepared event with no transaction around it, on PostgreSQL: one
   * statement that share-locks the event's meters as the cache last saw them (unchanged, not
   * archived), inserts the event once per id, and folds it into the rollups only if it was new
   * (`insert … select … from inserted`). A single statement is atomic on its own, so the guarantees
   * of `apply` hold with one round trip instead of five. Returns null when it cannot decide from the
   * cache (meters not cached, changed since, or a value that does not fit): the caller then runs
   * `apply` in a transaction, which reads the meters afresh and explains any refusal.
   */
  async applyAlone(environmentId: string, item: Prepared, reporter: Reporter): Promise<IngestResult | null> {
    if (this.m.db.engine !== "postgres" || item.problem) return null;
    const meters = this.#meterCache.get(`${environmentId}\n${item.type}`, this.m.clock.now())?.value;
    if (!meters || meters.length === 0) return null;
    const ms = measureAll(meters, item);
    if (!Array.isArray(ms)) return null;
    const deltas = new Map<string, RollupDelta>();
    const distinct = new Map<string, unknown[]>();
    fold(deltas, distinct, environmentId, item, ms, this.#shard());
    const outcome = await this.#store.insertAlone(
      this.#db.q(),
      meters.map((m) => ({ id: m.id, updatedAt: Number(m.updated_at) })),
      eventRow(environmentId, item, reporter, this.m.clock.now()),
      [...deltas.values()],
      [...distinct.values()],
    );
    if (!outcome.metersCurrent) {
      this.#meterCache.evictOwner(environmentId);
      return null;
    }
    const id = item.id as string;
    if (!outcome.inserted) return { id, status: "duplicate", tenantId: item.tenantId };
    this.onCounted?.(environmentId, new Set([item.tenantId as string]));
    return { id, status: "accepted", tenantId: item.tenantId };
  }

  /** onCounted is told, after the commit, which tenants of an environment have new usage. */
  onCounted: ((environmentId: string, tenantIds: ReadonlySet<string>) => void) | null = null;

  #shard(): number {
    return this.m.db.engine === "postgres" ? Math.floor(Math.random() * ROLLUP_SHARDS) : 0;
  }

  /**
   * #meters reads the active meters of `types` in `tx` (share-locked on PostgreSQL against a
   * definition change until the commit) and refreshes the cache that `applyAlone` starts from.
   */
  async #meters(tx: Tx, environmentId: string, types: string[]): Promise<Map<string, MeterRow[]>> {
    const generation = this.#meterCache.generation;
    const meterRows = await this.#db
      .q(tx)
      .selectFrom("usage_meter")
      .selectAll()
      .where("environment_id", "=", environmentId)
      .where("event_type", "in", types)
      .where("archived_at", "is", null)
      .orderBy("id")
      .$if(this.m.db.engine === "postgres", (qb) => qb.forKeyShare())
      .execute();
    const meters = new Map<string, MeterRow[]>();
    for (const row of meterRows) meters.set(row.event_type, [...(meters.get(row.event_type) ?? []), row]);
    const now = this.m.clock.now();
    for (const [type, rows] of meters) {
      this.#meterCache.set(
        `${environmentId}\n${type}`,
        { value: rows, validUntil: Number.POSITIVE_INFINITY, owners: [environmentId], cachedAt: now },
        generation,
      );
    }
    return meters;
  }
}

type MeterRow = Selectable<UsageMeterTable>;

/** Measured is what one event contributes to one of its meters. */
interface Measured {
  meter: MeterRow;
  m: Measure;
}

/** measureAll measures an event under every meter of its type, or says why it is refused. */
function measureAll(meters: MeterRow[] | undefined, item: Prepared): Measured[] | Problem {
  if (!meters) return { code: UsageErrors.unknown_event_type, detail: `No active meter counts type ${item.type}.` };
  const out: Measured[] = [];
  for (const meter of meters) {
    const m = measure(meter, item.data);
    if (typeof m === "string") return { code: UsageErrors.invalid_value, detail: m };
    out.push({ meter, m });
  }
  return out;
}

/** eventRow: an event's values in the order of the store's event columns. */
function eventRow(environmentId: string, item: Prepared, reporter: Reporter, now: number): unknown[] {
  return [
    environmentId,
    item.id,
    item.tenantId,
    item.type,
    item.time,
    item.source,
    jsonOf.get(item.data) ?? toJson(item.data),
    reporter.credentialId,
    reporter.actorType,
    now,
  ];
}

/**
 * fold adds one new event to the minute and hour deltas of each of its meters (`deltas` merges
 * events of one bucket), and its distinct values to `distinct`.
 */
function fold(
  deltas: Map<string, RollupDelta>,
  distinct: Map<string, unknown[]>,
  environmentId: string,
  item: Prepared,
  ms: Measured[],
  shard: number,
): void {
  const id = item.id as string;
  const tenantId = item.tenantId as string;
  for (const { meter, m } of ms) {
    for (const grain of GRAINS) {
      const bucketStart = Math.floor(item.time / grain) * grain;
      const key = `${meter.id}|${tenantId}|${grain}|${bucketStart}|${m.groupKey}`;
      const d = deltas.get(key);
      if (!d) {
        deltas.set(key, {
          environmentId,
          meterId: meter.id,
          tenantId,
          grain,
          bucketStart,
          groupKey: m.groupKey,
          shard,
          n: 1,
          total: m.value ?? 0,
          min: m.value,
          max: m.value,
          latestTime: m.value === null ? null : item.time,
          latestId: m.value === null ? null : id,
          latestValue: m.value,
        });
        continue;
      }
      d.n += 1;
      if (m.value !== null) {
        d.total += m.value;
        d.min = d.min === null || m.value < d.min ? m.value : d.min;
        d.max = d.max === null || m.value > d.max ? m.value : d.max;
        if (
          d.latestTime === null ||
          item.time > d.latestTime ||
          (item.time === d.latestTime && id > (d.latestId as string))
        ) {
          d.latestTime = item.time;
          d.latestId = id;
          d.latestValue = m.value;
        }
      }
    }
    if (m.distinct !== null) {
      const bucketStart = Math.floor(item.time / MINUTE) * MINUTE;
      const row = [environmentId, meter.id, tenantId, bucketStart, m.groupKey, m.distinct];
      distinct.set(row.join("\u0000"), row);
    }
  }
}

const FIELDS = new Set(["id", "callId", "specversion", "type", "source", "subject", "time", "datacontenttype", "data"]);
const VISIBLE = /^[\x21-\x7e]{1,200}$/;
const TYPE = /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,119}$/;
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

/** realDate: the calendar date of an RFC 3339 time exists (no 31 February) and the time parses. */
function realDate(time: string): boolean {
  const y = Number(time.slice(0, 4));
  const m = Number(time.slice(5, 7));
  const d = Number(time.slice(8, 10));
  const hh = Number(time.slice(11, 13));
  const mm = Number(time.slice(14, 16));
  const ss = Number(time.slice(17, 19));
  if (m < 1 || m > 12 || d < 1 || hh > 23 || mm > 59 || ss > 59) return false;
  return new Date(Date.UTC(y, m - 1, d)).getUTCDate() === d && Number.isFinite(Date.parse(time));
}

/**
 * fastParse accepts the common shape of a usage event without the schema's cost (a batch parses
 * up to 1,000), and returns null for anything else, which the schema then parses (and explains).
 * It accepts nothing the schema (`UsageEventInput`) refuses.
 */
export function fastParse(raw: unknown): UsageEventInput | null {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return null;
  const r = raw as Record<string, unknown>;
  for (const k in r) if (!FIELDS.has(k)) return null;
  const { id, callId, type, source, subject, time, data } = r;
  if ((id === undefined) === (callId === undefined)) return null;
  if (
    id !== undefined &&
    (typeof id !== "string" || !VISIBLE.test(id) || id.startsWith("callid:") || id.startsWith("hold:"))
  )
    return null;
  if (callId !== undefined && (typeof callId !== "string" || !VISIBLE.test(callId))) return null;
  if (typeof type !== "string" || !TYPE.test(type)) return null;
  if (source !== undefined && (typeof source !== "string" || source.length < 1 || source.length > 200)) return null;
  if (subject !== undefined && (typeof subject !== "string" || subject.length < 1 || subject.length > 200)) return null;
  if (time !== undefined && (typeof time !== "string" || !RFC3339.test(time) || !realDate(time))) return null;
  if (r.specversion !== undefined && r.specversion !== "1.0") return null;
  if (r.datacontenttype !== undefined && r.datacontenttype !== "application/json") return null;
  if (data !== undefined && (typeof data !== "object" || data === null || Array.isArray(data))) return null;
  return { ...(r as UsageEventInput), data: (data ?? {}) as Record<string, unknown> };
}

/** Measure is what one event contributes to one meter: its value, its distinct value and its group. */
interface Measure {
  value: number | null;
  distinct: string | null;
  groupKey: string;
}

/** measure reads an event's value and dimensions for a meter, or says why they do not fit. */
/** jsonOf keeps the JSON text of an event's data from its size check to its insert. */
const jsonOf = new WeakMap<object, string>();

const dimensionsOf = new WeakMap<object, Array<[string, string]>>();

/** dimensions: a meter's group-by dimensions, sorted by name (parsed once per meter row read). */
function dimensions(meter: Selectable<UsageMeterTable>): Array<[string, string]> {
  let dims = dimensionsOf.get(meter);
  if (!dims) {
    const groupBy = (typeof meter.group_by === "string" ? JSON.parse(meter.group_by) : meter.group_by) as Record<
      string,
      string
    >;
    dims = Object.entries(groupBy).sort(([a], [b]) => (a < b ? -1 : 1));
    dimensionsOf.set(meter, dims);
  }
  return dims;
}

export function measure(meter: Selectable<UsageMeterTable>, data: Record<string, unknown>): Measure | string {
  const group: Array<string | null> = [];
  for (const [name, path] of dimensions(meter)) {
    const v = at(data, path);
    if (v === undefined || v === null) group.push(null);
    else if (
      (typeof v === "string" && v.length <= 200) ||
      typeof v === "boolean" ||
      (typeof v === "number" && Number.isFinite(v))
    )
      group.push(String(v));
    else return `data.${path} (dimension ${name}) must be a string of at most 200 characters, a number or a boolean.`;
  }
  const groupKey = JSON.stringify(group);
  if (meter.aggregation === "count") return { value: 1, distinct: null, groupKey };
  const path = meter.value_path as string;
  const v = at(data, path);
  if (meter.aggregation === "unique_count") {
    if ((typeof v === "string" && v.length > 0 && v.length <= 200) || (typeof v === "number" && Number.isFinite(v))) {
      return { value: null, distinct: String(v), groupKey };
    }
    return `data.${path} must be a non-empty string of at most 200 characters or a number (meter ${meter.key}).`;
  }
  if (typeof v !== "number" || !Number.isFinite(v) || Math.abs(v) > 1e15) {
    return `data.${path} must be a finite number of magnitude at most 1e15 (meter ${meter.key}).`;
  }
  return { value: v, distinct: null, groupKey };
}

function reporterOf(access: TenantAccess): Reporter {
  return { credentialId: access.principal.credentialId, actorType: access.principal.actorType };
}

function rejected(item: Prepared, problem: Problem): IngestResult {
  return {
    id: item.id,
    status: "rejected",
    tenantId: item.tenantId,
    problem: {
      code: problem.code.code,
      status: problem.code.status,
      title: problem.code.title,
      detail: problem.detail,
    },
  };
}

function problemError(problem: Problem): AppError {
  return new AppError(problem.code, problem.detail);
}

function codeOf(code: string): ErrorCode {
  return (UsageErrors as Record<string, ErrorCode>)[code] ?? UsageErrors.invalid_event;
}
