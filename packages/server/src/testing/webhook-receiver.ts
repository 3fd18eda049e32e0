import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterCommit } from "../platform/db/db.js";
import type { TestApp } from "./harness.js";

/** ReceivedDelivery is one POST a test receiver got. */
export interface ReceivedDelivery {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  at: number;
}

/** Answer is how the receiver responds to one delivery. */
export interface Answer {
  status?: number;
  headers?: Record<string, string>;
  body?: string;
  /** delayMs holds the answer back (timeouts). */
  delayMs?: number;
}

/**
 * WebhookReceiver is a loopback HTTP server that records every delivery and answers as the test
 * says (`answer`, default 200). Webhook tests verify signatures on `received` with the external
 * `standardwebhooks` library, never with Baseplate's own code.
 */
export class WebhookReceiver {
  readonly received: ReceivedDelivery[] = [];
  answer: (delivery: ReceivedDelivery) => Answer = () => ({ status: 200 });
  /** inFlight: deliveries being answered right now, by webhook-id (concurrency checks). */
  readonly inFlight = new Map<string, number>();
  maxConcurrentPerId = 0;
  readonly #server: Server;
  #url = "";

  constructor() {
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const delivery: ReceivedDelivery = {
          path: req.url ?? "/",
          headers: req.headers,
          body: Buffer.concat(chunks).toString("utf8"),
          at: Date.now(),
        };
        this.received.push(delivery);
        const id = String(req.headers["webhook-id"] ?? "");
        const n = (this.inFlight.get(id) ?? 0) + 1;
        this.inFlight.set(id, n);
        this.maxConcurrentPerId = Math.max(this.maxConcurrentPerId, n);
        const answer = this.answer(delivery);
        const send = () => {
          this.inFlight.set(id, (this.inFlight.get(id) ?? 1) - 1);
          if (res.destroyed) return;
          res.writeHead(answer.status ?? 200, answer.headers ?? {});
          res.end(answer.body ?? "ok");
        };
        if (answer.delayMs) setTimeout(send, answer.delayMs).unref();
        else send();
      });
    });
    this.#server.keepAliveTimeout = 30_000;
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.#server.listen(0, "127.0.0.1", resolve));
    this.#url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
    return this.#url;
  }

  get url(): string {
    return this.#url;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

/**
 * runDueJobs runs, in this process and one at a time, every job due at the test clock's "now":
 * what a worker would do, without its timing (for schedule tests with a TestClock). Returns how
 * many ran.
 */
export async function runDueJobs(t: TestApp, limit = 500): Promise<number> {
  const jobs = await t.app.jobs.claim("test-runner", limit);
  for (const job of jobs) {
    const definition = t.app.jobs.definition(job.name);
    if (!definition) throw new Error(`no job ${job.name}`);
    try {
      let completed = false;
      await definition.handler(job.payload, {
        jobId: job.id,
        attempt: job.attempts,
        maxAttempts: job.max_attempts,
        signal: new AbortController().signal,
        complete: async (tx) => {
          await t.app.jobs.succeedIn(job, tx);
          afterCommit(tx, () => {
            completed = true;
          });
        },
      });
      if (!completed) await t.app.jobs.succeed(job);
    } catch (err) {
      await t.app.jobs.fail(job, err);
    }
  }
  return jobs.length;
}
