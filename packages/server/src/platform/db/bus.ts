import { sql } from "kysely";
import pg from "pg";
import type { Logger } from "../logger.js";
import { afterCommit, beforeCommit, type Db, type Tx } from "./db.js";

export type BusHandler = (payload: string) => void;

/** SQLITE_WATCH_MS is how often the bus looks for commits of other processes on SQLite. */
export const SQLITE_WATCH_MS = 250;

/**
 * ChangeBus tells every process of the plane that something changed (a key revoked, a tenant
 * suspended) so caches drop what they hold. `publish(tx, topic, payload)` delivers to local
 * subscribers at once and again after the commit, and on PostgreSQL to every other process
 * through `NOTIFY`, which PostgreSQL sends only when `tx` commits.
 *
 * `healthy` is false while the LISTEN connection is down: caches must not serve then, because
 * they could miss an invalidation. On reconnect every subscriber gets a `*` (flush everything).
 *
 * On SQLite another process can write the same file (the CLI suspending a tenant while the server
 * runs): the bus watches SQLite's `data_version`, which moves only when another connection
 * commits, every `SQLITE_WATCH_MS`, and then flushes every cache (`*`). So a change made by any
 * process applies within that interval, not when a cache entry expires.
 */
export class ChangeBus {
  readonly #handlers = new Map<string, BusHandler[]>();
  #client: pg.Client | null = null;
  #listening = false;
  #stopped = false;
  #retry: NodeJS.Timeout | null = null;
  #watch: NodeJS.Timeout | null = null;
  #dataVersion: number | null = null;
  /** One channel per schema, so planes sharing a database never hear each other. */
  readonly #channel: string;

  constructor(
    private readonly db: Db,
    private readonly postgres: { url: string; schema: string } | null,
    private readonly logger: Logger,
  ) {
    this.#channel = `baseplate_bus_${postgres?.schema ?? "main"}`;
  }

  /** healthy: caches may serve (always on SQLite, where the plane is one process). */
  get healthy(): boolean {
    return this.postgres === null || this.#listening;
  }

  readonly #pending = new WeakMap<Tx, Set<string>>();

  subscribe(topic: string, handler: BusHandler): void {
    this.#handlers.set(topic, [...(this.#handlers.get(topic) ?? []), handler]);
  }

  /** publish announces a change made in `tx`. Topics and payloads are short ASCII strings. */
  async publish(tx: Tx, topic: string, payload: string): Promise<void> {
    if (topic.includes("|")) throw new Error("Bus topics cannot contain '|'");
    this.#dispatch(topic, payload);
    afterCommit(tx, () => this.#dispatch(topic, payload));
    if (this.db.engine !== "postgres") return;
    // A transaction's notifications go out in one statement just before it commits (PostgreSQL
    // delivers them at commit either way): one round trip per write, however many changes it has.
    const message = `${topic}|${payload}`;
    const pending = this.#pending.get(tx);
    if (pending) {
      pending.add(message);
      return;
    }
    const messages = new Set([message]);
    this.#pending.set(tx, messages);
    beforeCommit(tx, async () => {
      this.#pending.delete(tx);
      const calls = [...messages].map((m) => sql`pg_notify(${this.#channel}, ${m})`);
      await sql`select ${sql.join(calls)}`.execute(tx);
    });
  }

  /** start opens the LISTEN connection (PostgreSQL only) and keeps it open until `stop`. */
  async start(): Promise<void> {
    this.#stopped = false;
    if (!this.postgres) {
      if (this.db.engine === "sqlite") {
        this.#dataVersion = await this.#readDataVersion();
        this.#watch = setInterval(() => void this.#checkDataVersion(), SQLITE_WATCH_MS);
        this.#watch.unref();
      }
      return;
    }
    await this.#connect();
  }

  async #readDataVersion(): Promise<number> {
    const r = await sql<{ data_version: number }>`pragma data_version`.execute(this.db.kysely);
    return Number(r.rows[0]?.data_version ?? 0);
  }

  async #checkDataVersion(): Promise<void> {
    try {
      const version = await this.#readDataVersion();
      if (this.#dataVersion !== null && version !== this.#dataVersion) this.#dispatchAll("*");
      this.#dataVersion = version;
    } catch (err) {
      if (!this.#stopped) this.logger.warn({ err }, "could not read SQLite's data_version");
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#retry) clearTimeout(this.#retry);
    if (this.#watch) clearInterval(this.#watch);
    this.#watch = null;
    this.#listening = false;
    const client = this.#client;
    this.#client = null;
    await client?.end().catch(() => undefined);
  }

  async #connect(): Promise<void> {
    if (!this.postgres || this.#stopped) return;
    const client = new pg.Client({ connectionString: this.postgres.url });
    client.on("notification", (msg) => {
      if (msg.channel !== this.#channel || !msg.payload) return;
      const split = msg.payload.indexOf("|");
      if (split > 0) this.#dispatch(msg.payload.slice(0, split), msg.payload.slice(split + 1));
    });
    const lost = (err?: unknown) => {
      if (this.#client !== client) return;
      this.#listening = false;
      this.#client = null;
      if (err) this.logger.warn({ err }, "change bus connection lost; caches bypassed until it returns");
      client.end().catch(() => undefined);
      if (!this.#stopped) this.#retry = setTimeout(() => void this.#connect(), 1000);
    };
    client.on("error", lost);
    client.on("end", () => lost());
    try {
      await client.connect();
      await client.query(`listen ${this.#channel}`);
      this.#client = client;
      this.#listening = true;
      this.#dispatchAll("*");
    } catch (err) {
      this.logger.warn({ err }, "change bus could not listen; retrying");
      await client.end().catch(() => undefined);
      if (!this.#stopped) this.#retry = setTimeout(() => void this.#connect(), 1000);
    }
  }

  #dispatch(topic: string, payload: string): void {
    for (const handler of this.#handlers.get(topic) ?? []) handler(payload);
  }

  #dispatchAll(payload: string): void {
    for (const handlers of this.#handlers.values()) for (const h of handlers) h(payload);
  }
}
