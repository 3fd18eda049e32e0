import type { KeyObject } from "node:crypto";
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { createRequire } from "node:module";
import { availableParallelism } from "node:os";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { entryOfRow } from "./internal/entry-of-row.js";
import type { AuditEntryTable } from "./tables.js";
import {
  type ChainVerifier,
  type EntryRun,
  ExportPass,
  renumbered,
  type SegmentReport,
  type VerificationResult,
} from "./verifier.js";
import { fileLines, type SegmentTask } from "./verify-segments.js";

/**
 * Parallel verification: a chain is cut into segments (byte ranges of an export file, pages of
 * stored rows) checked at once on worker threads (`node:worker_threads`, one per available core:
 * `os.availableParallelism()`), each without the state before it. The segments' reports are then
 * stitched in order: a segment whose first entry does not continue the one before (seq or
 * prevHash differ: only in a tampered chain) is checked again, on this thread, with the true
 * state. The result, errors and their order included, is exactly that of one sequential pass.
 */

/** PARALLEL_MIN_BYTES: below this many bytes of entries, an export is checked on the calling thread. */
const PARALLEL_MIN_BYTES = 4 * 1024 * 1024;
/** SEGMENT_BYTES: the size segments of an export file aim at. */
const SEGMENT_BYTES = 8 * 1024 * 1024;
/** IDLE_MS: workers left idle this long are stopped. */
const IDLE_MS = 30_000;

export interface ParallelOptions {
  /** threads: workers to use (default `os.availableParallelism()`); below 2, everything runs on the calling thread. */
  threads?: number;
  /** minParallelBytes / segmentBytes: when to go parallel and how big a segment of a file is. */
  minParallelBytes?: number;
  segmentBytes?: number;
}

type Reply = { report: SegmentReport } | { error: string };

interface Job {
  task: SegmentTask;
  resolve: (report: SegmentReport) => void;
  reject: (err: Error) => void;
}

/** workerScript starts a worker on the compiled script, or on the TypeScript source through tsx (development, tests). */
function startWorker(): Worker {
  if (import.meta.url.endsWith(".js")) return new Worker(new URL("./verify-worker.js", import.meta.url));
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve("tsx/esm/api")).href.replace(/\.cjs$/, ".mjs");
  const script = new URL("./verify-worker.ts", import.meta.url).href;
  const code = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(script)}); });`;
  return new Worker(code, { eval: true });
}

/** VerifyPool runs segment checks on worker threads, started on first use and stopped when idle. */
class VerifyPool {
  readonly #idle: Worker[] = [];
  readonly #busy = new Map<Worker, Job>();
  readonly #queue: Job[] = [];
  readonly #live = new Set<Worker>();
  #timer: NodeJS.Timeout | null = null;

  run(task: SegmentTask, threads: number): Promise<SegmentReport> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ task, resolve, reject });
      this.#pump(threads);
    });
  }

  #pump(threads: number): void {
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
    while (this.#queue.length > 0) {
      let worker = this.#idle.pop();
      if (!worker) {
        if (this.#live.size >= threads) return;
        worker = this.#start(threads);
      }
      const job = this.#queue.shift() as Job;
      this.#busy.set(worker, job);
      worker.ref();
      worker.postMessage(job.task);
    }
  }

  #start(threads: number): Worker {
    const worker = startWorker();
    this.#live.add(worker);
    worker.on("message", (reply: Reply) => {
      const job = this.#busy.get(worker);
      this.#busy.delete(worker);
      worker.unref();
      this.#idle.push(worker);
      if (job) {
        if ("report" in reply) job.resolve(reply.report);
        else job.reject(new Error(`audit verification worker failed: ${reply.error}`));
      }
      this.#pump(threads);
      if (this.#busy.size === 0 && this.#queue.length === 0) {
        this.#timer = setTimeout(() => this.stop(), IDLE_MS);
        this.#timer.unref();
      }
    });
    const gone = (err: Error) => {
      if (!this.#live.delete(worker)) return;
      const job = this.#busy.get(worker);
      this.#busy.delete(worker);
      const at = this.#idle.indexOf(worker);
      if (at >= 0) this.#idle.splice(at, 1);
      job?.reject(err);
      void worker.terminate();
    };
    worker.on("error", gone);
    worker.on("exit", (code) => gone(new Error(`audit verification worker exited (${code})`)));
    return worker;
  }

  /** stop ends the idle workers. */
  stop(): void {
    for (const worker of this.#idle.splice(0)) void worker.terminate();
  }
}

const pool = new VerifyPool();

/** verificationThreads is how many workers a verification uses. */
export function verificationThreads(options: ParallelOptions = {}): number {
  return Math.max(1, Math.floor(options.threads ?? availableParallelism()));
}

/** stitch adds a segment's report to `run` when it continues it; false when it must be checked again. */
function stitch(pass: ExportPass, run: EntryRun, report: SegmentReport): boolean {
  if (!run.continues(report)) return false;
  run.absorb(report, pass.n);
  for (const error of report.early) pass.early.push(renumbered(error, pass.n));
  pass.n += report.lines;
  return true;
}

/** nextLineStart is the offset after the first "\n" at or after `from` (the file's size when there is none). */
function nextLineStart(fd: number, from: number, size: number): number {
  const buf = Buffer.allocUnsafe(64 * 1024);
  for (let pos = from; pos < size; ) {
    const got = readSync(fd, buf, 0, Math.min(buf.length, size - pos), pos);
    if (got === 0) break;
    const nl = buf.subarray(0, got).indexOf(10);
    if (nl !== -1) return pos + nl + 1;
    pos += got;
  }
  return size;
}

/**
 * verifyExportFile verifies a JSON Lines export file (what `baseplate audit verify` runs): the
 * header and checkpoints on this thread, then the entries in segments on worker threads. Throws
 * only when the file cannot be read; bad content is reported like `verifyExportLines` does.
 */
export async function verifyExportFile(
  path: string,
  keys: ReadonlyMap<string, KeyObject>,
  options: ParallelOptions = {},
): Promise<VerificationResult> {
  const fd = openSync(path, "r");
  try {
    const size = fstatSync(fd).size;
    const pass = new ExportPass(keys);
    const cursor = { next: 0 };
    // The header, the checkpoints and the first entry, in order on this thread.
    for (const raw of fileLines(fd, 0, size, cursor)) {
      if (!pass.line(raw)) return pass.finish();
      if (pass.verifier?.started) break;
    }
    const verifier = pass.verifier;
    const rest = cursor.next;
    const threads = verificationThreads(options);
    if (verifier === null || !verifier.started || rest >= size) return pass.finish();
    if (threads < 2 || size - rest < (options.minParallelBytes ?? PARALLEL_MIN_BYTES)) {
      for (const raw of fileLines(fd, rest, size)) if (!pass.line(raw)) break;
      return pass.finish();
    }
    const count = Math.max(threads, Math.ceil((size - rest) / (options.segmentBytes ?? SEGMENT_BYTES)));
    const bounds = [rest];
    for (let i = 1; i < count; i++) {
      const at = nextLineStart(
        fd,
        Math.max(rest + Math.floor(((size - rest) * i) / count), bounds[i - 1] as number),
        size,
      );
      if (at > (bounds[bounds.length - 1] as number) && at < size) bounds.push(at);
    }
    bounds.push(size);
    const run = verifier.entries();
    const checkpoints = run.checkpointHeads();
    const reports = bounds
      .slice(1)
      .map((end, i) =>
        pool.run({ kind: "file", path, start: bounds[i] as number, end, chain: verifier.chain, checkpoints }, threads),
      );
    // Rejections are awaited in order below; none is left unhandled meanwhile.
    for (const r of reports) r.catch(() => undefined);
    for (let i = 0; i < reports.length; i++) {
      const report = await (reports[i] as Promise<SegmentReport>);
      if (!stitch(pass, run, report)) {
        let going = true;
        for (const raw of fileLines(fd, bounds[i] as number, bounds[i + 1] as number)) {
          if (!pass.line(raw)) {
            going = false;
            break;
          }
        }
        if (!going) break;
      } else if (report.stopped) {
        break;
      }
    }
    return pass.finish();
  } finally {
    closeSync(fd);
  }
}

/**
 * verifyRowPages checks a chain's stored rows, page by page, against `verifier` (its checkpoints
 * already fed): pages go to worker threads (at most two per worker in flight) while the next are
 * read. With fewer than two threads, rows are checked on this thread.
 */
export async function verifyRowPages(
  verifier: ChainVerifier,
  pages: AsyncIterable<AuditEntryTable[]>,
  options: ParallelOptions = {},
): Promise<VerificationResult> {
  const run = verifier.entries();
  const threads = verificationThreads(options);
  if (threads < 2) {
    for await (const rows of pages) for (const row of rows) run.entry(entryOfRow(row));
    return verifier.finish();
  }
  const checkpoints = run.checkpointHeads();
  const inFlight: Array<{ rows: AuditEntryTable[]; report: Promise<SegmentReport> }> = [];
  const settle = async () => {
    const next = inFlight.shift();
    if (!next) return;
    const report = await next.report;
    if (run.continues(report)) run.absorb(report, 0);
    else for (const row of next.rows) run.entry(entryOfRow(row));
  };
  try {
    for await (const rows of pages) {
      if (rows.length === 0) continue;
      const report = pool.run({ kind: "rows", rows, chain: verifier.chain, checkpoints }, threads);
      report.catch(() => undefined);
      inFlight.push({ rows, report });
      if (inFlight.length >= threads * 2) await settle();
    }
    while (inFlight.length > 0) await settle();
  } finally {
    for (const { report } of inFlight) report.catch(() => undefined);
  }
  return verifier.finish();
}
