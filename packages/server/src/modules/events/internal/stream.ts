import type { ServerResponse } from "node:http";
import type { ChangeBus } from "../../../platform/db/bus.js";
import type { Logger } from "../../../platform/logger.js";
import type { Event } from "../schemas.js";
import { matchesType } from "./rows.js";

/** StreamSource is what streams read: the log of one environment after a sequence. */
export interface StreamSource {
  eventsAfter(environmentId: string, seq: number, limit: number): Promise<Event[]>;
  headOf(environmentId: string): Promise<number>;
}

export interface StreamFilter {
  environmentId: string;
  /** tenantId: only this tenant's events (tenant-bound callers always have one). */
  tenantId: string | null;
  /** environmentOnly: only the environment's own events (an operator acting environment-wide). */
  environmentOnly?: boolean;
  patterns: string[];
}

const BATCH = 200;
/** RECENT keeps the last events of each environment in memory, so 1,000 streams read the log once. */
const RECENT = 512;
const HEARTBEAT_MS = 15_000;
/**
 * REFRESH_MS: how often open streams look at the log even without an announcement, so an event
 * whose notification was lost (a LISTEN connection that was reconnecting, a busy process) still
 * reaches every stream within this interval.
 */
const REFRESH_MS = 1_000;

/**
 * EventStreams serves server-sent event streams of environments' logs. Each connection holds only
 * a cursor (the last sequence sent): events are read from a shared in-memory window of the
 * environment's recent events, or from the database when the connection is behind it. A
 * connection writes only while its socket accepts data (`write` → false pauses it until `drain`),
 * so a slow consumer costs the server one socket buffer, never a growing queue: it catches up from
 * the database when it reads again. New events are announced through the ChangeBus (NOTIFY on
 * PostgreSQL), so streams on every process follow writes made on any process.
 */
export class EventStreams {
  readonly #hubs = new Map<string, Hub>();
  #heartbeat: NodeJS.Timeout | null = null;
  #refresh: NodeJS.Timeout | null = null;

  constructor(
    private readonly source: StreamSource,
    bus: ChangeBus,
    topic: string,
    private readonly logger: Logger,
  ) {
    bus.subscribe(topic, (environmentId) => {
      if (environmentId === "*") for (const hub of this.#hubs.values()) hub.refresh();
      else this.#hubs.get(environmentId)?.refresh();
    });
  }

  /** connections counts open streams (metrics, tests). */
  get connections(): number {
    let n = 0;
    for (const hub of this.#hubs.values()) n += hub.connections.size;
    return n;
  }

  /** maxBuffered is the largest number of bytes any stream has waiting in its socket buffer. */
  get maxBuffered(): number {
    let max = 0;
    for (const hub of this.#hubs.values()) for (const c of hub.connections) max = Math.max(max, c.res.writableLength);
    return max;
  }

  /**
   * open starts streaming to `res` after `lastSeq` (null: from the current end of the log). The
   * caller has checked access; `filter.tenantId` confines the stream to one tenant.
   */
  async open(res: ServerResponse, filter: StreamFilter, lastSeq: number | null, requestId: string): Promise<void> {
    // NOTE: the hub is created and registered before any await, so concurrent opens share it.
    let hub = this.#hubs.get(filter.environmentId);
    if (!hub) {
      hub = new Hub(filter.environmentId, this.source, this.logger);
      this.#hubs.set(filter.environmentId, hub);
    }
    const cursor = lastSeq ?? (await this.source.headOf(filter.environmentId));
    res.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-store",
      connection: "keep-alive",
      "x-accel-buffering": "no",
      "x-request-id": requestId,
      "x-content-type-options": "nosniff",
    });
    // The opening `id` (no data: nothing is dispatched) tells the client where it stands, so a
    // reconnect sends it back as Last-Event-ID even when the connection drops before any event.
    res.write(`: connected\nid: ${cursor}\n\n`);
    const connection = new Connection(res, filter, cursor, hub);
    hub.connections.add(connection);
    res.on("close", () => {
      hub.connections.delete(connection);
      if (hub.connections.size === 0 && this.#hubs.get(filter.environmentId) === hub) {
        this.#hubs.delete(filter.environmentId);
      }
    });
    this.#heartbeat ??= setInterval(() => {
      for (const h of this.#hubs.values()) for (const c of h.connections) c.heartbeat();
    }, HEARTBEAT_MS).unref();
    this.#refresh ??= setInterval(() => {
      for (const h of this.#hubs.values()) h.refresh();
    }, REFRESH_MS).unref();
    connection.pump();
    hub.refresh();
  }

  /** close ends every stream (shutdown). */
  close(): void {
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    this.#heartbeat = null;
    if (this.#refresh) clearInterval(this.#refresh);
    this.#refresh = null;
    for (const hub of this.#hubs.values()) for (const c of hub.connections) c.res.end();
    this.#hubs.clear();
  }
}

class Hub {
  readonly connections = new Set<Connection>();
  /** recent: the newest events of the environment, by sequence, at most RECENT. */
  recent: Event[] = [];
  #refreshing = false;
  #again = false;

  /** head: the last sequence this hub has read (null until its first refresh). */
  head: number | null = null;

  constructor(
    readonly environmentId: string,
    readonly source: StreamSource,
    private readonly logger: Logger,
  ) {}

  /** windowStart: streams whose cursor is at least this are served from memory without a gap. */
  get windowStart(): number {
    if (this.head === null) return Number.POSITIVE_INFINITY;
    return (this.recent[0]?.sequence ?? this.head + 1) - 1;
  }

  refresh(): void {
    if (this.#refreshing) {
      this.#again = true;
      return;
    }
    this.#refreshing = true;
    void (async () => {
      try {
        do {
          this.#again = false;
          this.head ??= await this.source.headOf(this.environmentId);
          for (;;) {
            const batch = await this.source.eventsAfter(this.environmentId, this.head, BATCH);
            if (batch.length === 0) break;
            this.recent.push(...batch);
            if (this.recent.length > RECENT) this.recent = this.recent.slice(-RECENT);
            this.head = (batch[batch.length - 1] as Event).sequence;
            for (const c of this.connections) c.pump();
            if (batch.length < BATCH) break;
          }
          // A connection whose cursor was taken before this hub first read the head (or that
          // missed a pump while busy) is behind without a new batch to wake it: wake it here.
          for (const c of this.connections) if (c.behind(this.head)) c.pump();
        } while (this.#again);
      } catch (err) {
        this.logger.warn({ err, environmentId: this.environmentId }, "event stream could not read the log");
      } finally {
        this.#refreshing = false;
      }
    })();
  }
}

class Connection {
  #pumping = false;
  #again = false;
  #waitingDrain = false;

  constructor(
    readonly res: ServerResponse,
    private readonly filter: StreamFilter,
    /** cursor: the last sequence considered (sent or filtered out). */
    private cursor: number,
    private readonly hub: Hub,
  ) {}

  /** behind: whether events up to `head` exist that this connection has not considered yet. */
  behind(head: number): boolean {
    return this.cursor < head;
  }

  heartbeat(): void {
    if (!this.#waitingDrain && !this.res.writableEnded) this.res.write(": ping\n\n");
  }

  pump(): void {
    if (this.#pumping || this.#waitingDrain) {
      this.#again = true;
      return;
    }
    this.#pumping = true;
    void this.#run()
      .catch(() => this.res.destroy())
      .finally(() => {
        this.#pumping = false;
        if (this.#again && !this.#waitingDrain && !this.res.destroyed) {
          this.#again = false;
          this.pump();
        }
      });
  }

  async #run(): Promise<void> {
    while (!this.res.destroyed && !this.res.writableEnded) {
      this.#again = false;
      const batch =
        this.cursor >= this.hub.windowStart
          ? this.hub.recent.filter((e) => e.sequence > this.cursor).slice(0, BATCH)
          : await this.hub.source.eventsAfter(this.filter.environmentId, this.cursor, BATCH);
      if (batch.length === 0) return;
      for (const event of batch) {
        this.cursor = event.sequence;
        if (this.filter.tenantId !== null && event.tenantId !== this.filter.tenantId) continue;
        if (this.filter.environmentOnly && event.tenantId !== null && !event.type.startsWith("tenant.")) continue;
        if (!matchesType(event.type, this.filter.patterns)) continue;
        const ok = this.res.write(`id: ${event.sequence}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`);
        if (!ok) {
          // The consumer is slow: stop here and catch up from the log once its socket drains.
          this.#waitingDrain = true;
          this.res.once("drain", () => {
            this.#waitingDrain = false;
            this.pump();
          });
          return;
        }
      }
    }
  }
}
