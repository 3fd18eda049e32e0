import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { REPO_ROOT } from "./options.js";
import type { Resources } from "./resources.js";

/** LIVE holds every child not yet exited, so a crashing parent can still kill them on exit. */
const LIVE = new Set<ChildProcess>();
process.on("exit", () => {
  for (const child of LIVE) child.kill("SIGKILL");
});

const TAIL_LINES = 40;
const FORWARDED_LINES = 20;

export interface SpawnOptions {
  /** name labels the child in progress lines and errors. */
  name: string;
  /** script is a TypeScript file, relative to the repository root, run with `node --import tsx`. */
  script: string;
  args?: string[];
  /** env is added to the parent's environment, from which every `BASEPLATE_*` variable is removed. */
  env?: Record<string, string>;
}

/**
 * ChildHandle is one spawned `node --import tsx` process. Its stdout is read line by line: the
 * first JSON line accepted by `waitForJson` is the child's answer; every other line is kept for
 * error reports and, once the child answered, echoed to stderr (up to 20 lines) so warnings during
 * a measurement are seen. `stop` is SIGTERM, then SIGKILL after a grace period.
 */
export class ChildHandle {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  readonly #tail: string[] = [];
  #waiter: ((line: string) => boolean) | null = null;
  #forwarded = 0;
  #answered = false;

  constructor(readonly options: SpawnOptions) {
    const env: NodeJS.ProcessEnv = {};
    for (const [key, value] of Object.entries(process.env)) if (!key.startsWith("BASEPLATE_")) env[key] = value;
    Object.assign(env, options.env);
    // BENCH_CPU_PROF=<dir>: every child writes a V8 CPU profile there when it exits (see README).
    const profile = process.env.BENCH_CPU_PROF ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [];
    this.child = spawn(process.execPath, [...profile, "--import", "tsx", options.script, ...(options.args ?? [])], {
      cwd: REPO_ROOT,
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    LIVE.add(this.child);
    this.exited = new Promise((resolve) => {
      // "close" (not "exit") fires once stdout and stderr are drained, so no answer line is lost.
      this.child.once("close", (code, signal) => {
        LIVE.delete(this.child);
        resolve(code ?? (signal ? null : 0));
      });
      this.child.once("error", (err) => {
        LIVE.delete(this.child);
        this.#keep(`spawn error: ${err.message}`);
        resolve(null);
      });
    });
    if (this.child.stdout) createInterface({ input: this.child.stdout }).on("line", (line) => this.#onLine(line, true));
    if (this.child.stderr)
      createInterface({ input: this.child.stderr }).on("line", (line) => this.#onLine(line, false));
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /**
   * waitForJson resolves with the first stdout line that is JSON accepted by `accept`. Rejects,
   * quoting the child's last output, when the child exits first or `timeoutMs` passes.
   */
  waitForJson<T>(accept: (value: unknown) => value is T, timeoutMs: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiter = null;
        reject(this.#failure(`gave no answer within ${timeoutMs / 1000} s`));
      }, timeoutMs);
      this.#waiter = (line) => {
        let value: unknown;
        try {
          value = JSON.parse(line);
        } catch {
          return false;
        }
        if (!accept(value)) return false;
        clearTimeout(timer);
        this.#waiter = null;
        this.#answered = true;
        resolve(value);
        return true;
      };
      void this.exited.then((code) => {
        if (!this.#waiter) return;
        clearTimeout(timer);
        this.#waiter = null;
        reject(this.#failure(`exited (code ${code}) before answering`));
      });
    });
  }

  /** stop sends SIGTERM and waits; after `graceMs` it sends SIGKILL. Never throws. */
  async stop(graceMs = 15_000): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  #onLine(line: string, stdout: boolean): void {
    if (stdout && this.#waiter?.(line)) return;
    this.#keep(line);
    if (this.#answered && this.#forwarded < FORWARDED_LINES) {
      this.#forwarded++;
      const suffix = this.#forwarded === FORWARDED_LINES ? " (further lines suppressed)" : "";
      process.stderr.write(`[${this.options.name}] ${line.slice(0, 500)}${suffix}\n`);
    }
  }

  #keep(line: string): void {
    this.#tail.push(line);
    if (this.#tail.length > TAIL_LINES) this.#tail.shift();
  }

  #failure(what: string): Error {
    const output = this.#tail.length > 0 ? `\n  last output:\n    ${this.#tail.join("\n    ")}` : "";
    return new Error(`${this.options.name} (${this.options.script}) ${what}${output}`);
  }
}

/**
 * startChild spawns a long-running child (a server), registers its stop with `resources`, and
 * waits for its ready line. The child is stopped if it fails to become ready.
 */
export async function startChild<T>(
  resources: Resources,
  options: SpawnOptions,
  accept: (value: unknown) => value is T,
  readyTimeoutMs = 60_000,
): Promise<{ handle: ChildHandle; ready: T; stop: () => Promise<void> }> {
  const handle = new ChildHandle(options);
  const forget = resources.defer(`stop ${options.name}`, () => handle.stop());
  const ready = await handle.waitForJson(accept, readyTimeoutMs);
  return {
    handle,
    ready,
    stop: async () => {
      forget();
      await handle.stop();
    },
  };
}

/**
 * runChild spawns a one-shot child (a raw-insert baseline), waits for its JSON answer and its
 * exit, and returns the answer. Throws when it exits non-zero or answers nothing in `timeoutMs`.
 */
export async function runChild<T>(
  resources: Resources,
  options: SpawnOptions,
  accept: (value: unknown) => value is T,
  timeoutMs: number,
): Promise<T> {
  const handle = new ChildHandle(options);
  const forget = resources.defer(`stop ${options.name}`, () => handle.stop());
  try {
    const answer = await handle.waitForJson(accept, timeoutMs);
    const code = await handle.exited;
    if (code !== 0) throw new Error(`${options.name} exited with code ${code} after answering`);
    return answer;
  } finally {
    forget();
    await handle.stop();
  }
}

/** isRecord narrows an unknown JSON value to an object (for the small type guards of child answers). */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
