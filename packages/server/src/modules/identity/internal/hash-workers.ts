import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";

/** Argon2Options are the parameters passed to `@node-rs/argon2` (algorithm and cost). */
export interface Argon2Options {
  algorithm: number;
  memoryCost: number;
  timeCost: number;
  parallelism: number;
}

export type HashJob =
  | { op: "hash"; password: string; options: Argon2Options }
  | { op: "verify"; hash: string; password: string };

/** HASH_WORKER_NICE: how much lower than the event loop the hashing threads run (Linux `nice`). */
export const HASH_WORKER_NICE = 10;
/** IDLE_MS: a hashing thread unused this long ends (the next hash starts one again, ~30 ms). */
const IDLE_MS = 60_000;

/*
 * The worker is plain CommonJS evaluated from a string, so it runs the same from the TypeScript
 * sources (tests, tsx) and from the build; it loads the argon2 binding by its resolved path.
 * It lowers its own thread's scheduling priority (Linux: a thread is a task with its own nice
 * value; raising nice needs no privilege), so that on a contended core the event loop, which
 * answers every other request, runs first and hashing takes the CPU it leaves.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const argon2 = require(workerData.argon2);
try {
  const tid = Number(require("node:fs").readlinkSync("/proc/thread-self").split("/").pop());
  if (tid > 0 && workerData.nice > 0) require("node:os").setPriority(tid, workerData.nice);
} catch {}
parentPort.on("message", (job) => {
  let reply;
  try {
    const value = job.op === "hash"
      ? argon2.hashSync(job.password, job.options)
      : argon2.verifySync(job.hash, job.password);
    reply = { value };
  } catch (err) {
    reply = { error: String((err && err.message) || err) };
  }
  parentPort.postMessage(reply);
});
`;

const ARGON2_PATH = createRequire(import.meta.url).resolve("@node-rs/argon2");

interface Slot {
  worker: Worker;
  busy: ((reply: { value?: unknown; error?: string }) => void) | null;
  idle: NodeJS.Timeout | null;
}

/**
 * HashWorkers runs argon2 on its own threads (worker_threads), never on the event loop nor on
 * libuv's shared thread pool (where a hash would hold up file and DNS work). It starts a thread
 * when a job finds none free, up to `size`, and ends one that stays idle for a minute; the caller
 * (`PasswordHasher`) never gives it more than `size` jobs at once. Threads are unreferenced: they
 * never keep the process alive.
 */
export class HashWorkers {
  readonly #slots: Slot[] = [];
  #closed = false;

  constructor(
    readonly size: number,
    readonly nice = HASH_WORKER_NICE,
  ) {}

  /** threads is how many hashing threads are running now. */
  get threads(): number {
    return this.#slots.length;
  }

  run(job: HashJob): Promise<unknown> {
    if (this.#closed) return Promise.reject(new Error("password hashing has stopped"));
    const slot = this.#slots.find((s) => s.busy === null) ?? this.#start();
    if (slot.idle) clearTimeout(slot.idle);
    slot.idle = null;
    return new Promise((resolve, reject) => {
      slot.busy = (reply) => {
        slot.busy = null;
        slot.idle = setTimeout(() => this.#end(slot), IDLE_MS).unref();
        if (reply.error !== undefined) reject(new Error(reply.error));
        else resolve(reply.value);
      };
      slot.worker.postMessage(job);
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all([...this.#slots].map((slot) => this.#end(slot)));
  }

  #start(): Slot {
    if (this.#slots.length >= this.size) throw new Error("more hashing jobs than hashing threads");
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { argon2: ARGON2_PATH, nice: this.nice } });
    worker.unref();
    const slot: Slot = { worker, busy: null, idle: null };
    worker.on("message", (reply) => slot.busy?.(reply));
    const fail = (err: unknown) => {
      this.#remove(slot);
      slot.busy?.({ error: `hashing thread failed: ${err instanceof Error ? err.message : String(err)}` });
    };
    worker.on("error", fail);
    worker.on("exit", (code) => fail(new Error(`exited with code ${code}`)));
    this.#slots.push(slot);
    return slot;
  }

  #remove(slot: Slot): void {
    if (slot.idle) clearTimeout(slot.idle);
    const i = this.#slots.indexOf(slot);
    if (i >= 0) this.#slots.splice(i, 1);
  }

  async #end(slot: Slot): Promise<void> {
    this.#remove(slot);
    await slot.worker.terminate();
  }
}
