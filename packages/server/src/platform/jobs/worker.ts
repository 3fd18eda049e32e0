import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { afterCommit } from "../db/db.js";
import type { Logger } from "../logger.js";
import { type ClaimedJob, type JobQueue, RetryLaterError } from "./queue.js";

export interface WorkerOptions {
  concurrency: number;
  pollIntervalMs: number;
  /** onOutcome observes every finished attempt (metrics). */
  onOutcome?: (job: ClaimedJob, outcome: "succeeded" | "retry" | "dead" | "lost", durationMs: number) => void;
}

/**
 * Worker runs jobs from the queue in this process: it claims up to `concurrency` jobs at a time,
 * keeps their leases alive while they run, records each outcome, and enqueues due recurring jobs.
 * `stop` stops claiming and waits for running jobs (their handlers see `signal` abort at the
 * deadline; a job still running then is retried elsewhere once its lease expires).
 */
export class Worker {
  readonly id = `${hostname()}:${process.pid}:${randomBytes(4).toString("hex")}`;
  readonly #active = new Map<string, { controller: AbortController; done: Promise<void> }>();
  #running = false;
  #loop: Promise<void> | null = null;
  #sleepTimer: NodeJS.Timeout | null = null;
  #wakeUp: (() => void) | null = null;
  #lastScheduleCheck = 0;
  #wokenWhileBusy = false;

  constructor(
    private readonly queue: JobQueue,
    private readonly logger: Logger,
    private readonly options: WorkerOptions,
  ) {}

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.queue.setWakeListener(() => this.#wake());
    // Everything the loop starts (claims, handlers, their services' queries) uses the jobs' pool.
    this.#loop = this.queue.asWorker(() => this.#run());
  }

  get activeCount(): number {
    return this.#active.size;
  }

  /** stop stops claiming, then waits up to `timeoutMs` for running jobs to finish. */
  async stop(timeoutMs: number): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    this.queue.setWakeListener(null);
    this.#wake();
    await this.#loop;
    const all = Promise.all([...this.#active.values()].map((a) => a.done));
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), timeoutMs);
    });
    const result = await Promise.race([all.then(() => "done" as const), deadline]);
    clearTimeout(timer);
    if (result === "timeout") {
      for (const { controller } of this.#active.values()) controller.abort(new Error("worker shutting down"));
      this.logger.warn({ running: this.#active.size }, "jobs still running at shutdown; they will be retried");
    }
  }

  async #run(): Promise<void> {
    while (this.#running) {
      let claimed = 0;
      let free = 0;
      try {
        await this.#maybeEnqueueSchedules();
        free = this.options.concurrency - this.#active.size;
        if (free > 0) {
          const jobs = await this.queue.claim(this.id, free);
          claimed = jobs.length;
          for (const job of jobs) this.#execute(job);
        }
      } catch (err) {
        this.logger.error({ err }, "job worker could not claim jobs");
      }
      // Full batch: there may be more work, go again at once. Otherwise wait for a wake-up or poll.
      if (!this.#running) break;
      if (claimed === 0 || claimed < free) await this.#sleep(this.options.pollIntervalMs);
      else if (this.#active.size >= this.options.concurrency) await this.#sleep(this.options.pollIntervalMs);
    }
  }

  async #maybeEnqueueSchedules(): Promise<void> {
    const now = Date.now();
    if (now - this.#lastScheduleCheck < 1000) return;
    this.#lastScheduleCheck = now;
    await this.queue.enqueueDueSchedules();
  }

  #execute(job: ClaimedJob): void {
    const controller = new AbortController();
    const started = performance.now();
    const done = (async () => {
      const definition = this.queue.definition(job.name);
      const heartbeat = setInterval(
        () => {
          this.queue.extendLease(job).then(
            (ok) => {
              if (!ok) controller.abort(new Error("job lease lost"));
            },
            (err) => this.logger.warn({ err, jobId: job.id }, "could not extend job lease"),
          );
        },
        Math.max(250, Math.floor(this.queue.leaseMs / 3)),
      );
      let outcome: "succeeded" | "retry" | "dead" | "lost";
      let completed = false;
      try {
        if (!definition) throw new Error(`No handler for job "${job.name}"`);
        if (job.attempts > job.max_attempts) throw new Error("lease expired during the final attempt");
        await definition.handler(job.payload, {
          jobId: job.id,
          attempt: job.attempts,
          maxAttempts: job.max_attempts,
          signal: controller.signal,
          complete: async (tx) => {
            await this.queue.succeedIn(job, tx);
            afterCommit(tx, () => {
              completed = true;
            });
          },
        });
        outcome = completed || (await this.queue.succeed(job)) ? "succeeded" : "lost";
      } catch (err) {
        outcome = await this.queue.fail(job, err).catch((failErr) => {
          this.logger.error({ err: failErr, jobId: job.id }, "could not record job failure");
          return "lost" as const;
        });
        const level = outcome === "dead" ? "error" : "warn";
        const fields = { jobId: job.id, job: job.name, attempt: job.attempts, outcome };
        if (err instanceof RetryLaterError) {
          this.logger[level](
            { ...fields, ...err.details, reason: err.message, retryInMs: err.delayMs },
            "job attempt failed",
          );
        } else {
          this.logger[level]({ err, ...fields }, "job attempt failed");
        }
      } finally {
        clearInterval(heartbeat);
      }
      this.options.onOutcome?.(job, outcome, performance.now() - started);
    })()
      .catch((err) => this.logger.error({ err, jobId: job.id }, "job bookkeeping failed"))
      .finally(() => {
        this.#active.delete(job.id);
        // Claim again once half the slots are free (or all, for small pools): claiming in batches
        // costs one write per batch instead of one per finished job.
        if (this.#active.size <= Math.floor(this.options.concurrency / 2)) this.#wake();
      });
    this.#active.set(job.id, { controller, done });
  }

  #sleep(ms: number): Promise<void> {
    // A wake-up that came while the loop was busy (claiming) is not lost: go round again at once.
    if (this.#wokenWhileBusy) {
      this.#wokenWhileBusy = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      this.#wakeUp = resolve;
      this.#sleepTimer = setTimeout(() => {
        // Slept the whole interval: a later wake-up must find the loop busy, not this spent sleep.
        this.#wakeUp = null;
        this.#sleepTimer = null;
        resolve();
      }, ms);
    });
  }

  #wake(): void {
    if (this.#sleepTimer) clearTimeout(this.#sleepTimer);
    this.#sleepTimer = null;
    const wake = this.#wakeUp;
    this.#wakeUp = null;
    if (wake) wake();
    else this.#wokenWhileBusy = true;
  }
}
