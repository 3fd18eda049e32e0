import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import type { PoolStats } from "../db/db.js";
import type { GroupCommitStats } from "../db/group-commit.js";
import type { QueueStats } from "../jobs/queue.js";

export interface MetricsSources {
  queueStats(): Promise<QueueStats>;
  poolStats(): PoolStats | null;
  workerPoolStats?(): PoolStats | null;
  /** commitStats: commits and the transactions they carried (SQLite group commit; null elsewhere). */
  commitStats?(): GroupCommitStats | null;
}

/**
 * Metrics is the plane's Prometheus registry (one per app, so tests never share counters):
 * request latency by route (its `_count` is the request rate), job outcomes and durations, queue
 * depth and age, and database pool usage, plus Node's default process metrics.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly httpDuration: Histogram<"method" | "route" | "status_code">;
  readonly jobDuration: Histogram<"job" | "outcome">;
  readonly jobsFinished: Counter<"job" | "outcome">;
  readonly rateLimited: Counter<"scope" | "surface">;

  constructor(sources: MetricsSources) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: "baseplate_" });
    this.httpDuration = new Histogram({
      name: "baseplate_http_request_duration_seconds",
      help: "HTTP request latency by route; the _count series is the request rate.",
      labelNames: ["method", "route", "status_code"],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.jobDuration = new Histogram({
      name: "baseplate_job_duration_seconds",
      help: "Duration of job attempts by job and outcome.",
      labelNames: ["job", "outcome"],
      buckets: [0.005, 0.025, 0.1, 0.5, 1, 5, 15, 60, 300],
      registers,
    });
    this.jobsFinished = new Counter({
      name: "baseplate_job_attempts_total",
      help: "Finished job attempts by job and outcome (succeeded, retry, dead, lost).",
      labelNames: ["job", "outcome"],
      registers,
    });
    this.rateLimited = new Counter({
      name: "baseplate_rate_limited_total",
      help: "Requests refused with 429 rate_limited, by the bucket that refused (scope: credential or tenant; surface).",
      labelNames: ["scope", "surface"],
      registers,
    });
    const queueGauge = new Gauge({
      name: "baseplate_job_queue_depth",
      help: "Jobs in the queue by state (queued includes jobs scheduled for later).",
      labelNames: ["state"],
      registers,
      async collect() {
        const s = await sources.queueStats();
        this.set({ state: "queued" }, s.queued);
        this.set({ state: "due" }, s.due);
        this.set({ state: "running" }, s.running);
        this.set({ state: "dead" }, s.dead);
        ageGauge.set(s.oldestDueAgeMs / 1000);
      },
    });
    void queueGauge;
    const ageGauge = new Gauge({
      name: "baseplate_job_queue_oldest_due_age_seconds",
      help: "How long the oldest runnable job has been waiting.",
      registers,
    });
    new Gauge({
      name: "baseplate_db_pool_connections",
      help: "Database pool connections by pool (requests, jobs) and state (PostgreSQL only).",
      labelNames: ["pool", "state"],
      registers,
      collect() {
        for (const [pool, p] of [
          ["requests", sources.poolStats()],
          ["jobs", sources.workerPoolStats?.() ?? null],
        ] as const) {
          if (!p) continue;
          this.set({ pool, state: "total" }, p.total);
          this.set({ pool, state: "idle" }, p.idle);
          this.set({ pool, state: "waiting" }, p.waiting);
        }
      },
    });
    new Gauge({
      name: "baseplate_db_group_commits",
      help: "SQLite group commit: commits made and the transactions they carried, since start (their ratio is the batch size).",
      labelNames: ["counted"],
      registers,
      collect() {
        const c = sources.commitStats?.();
        if (!c) return;
        this.set({ counted: "commits" }, c.batches);
        this.set({ counted: "transactions" }, c.transactions);
      },
    });
  }
}
