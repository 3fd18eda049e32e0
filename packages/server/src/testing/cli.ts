import { type CliIo, runCli } from "../cli/index.js";

/** CliRun is one `baseplate` invocation's exit code and output (lines joined with newlines). */
export interface CliRun {
  code: number;
  out: string;
  err: string;
}

/**
 * runCaptured runs the CLI in this process, as `baseplate <argv>` with `env` as its environment,
 * and returns what it printed. Logs are silent unless `env` says otherwise.
 */
export async function runCaptured(env: Record<string, string>, ...argv: string[]): Promise<CliRun> {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = {
    env: { BASEPLATE_LOG_LEVEL: "silent", ...env },
    out: (line) => void out.push(line),
    err: (line) => void err.push(line),
    onSignal: () => undefined,
  };
  const code = await runCli(argv, io);
  return { code, out: out.join("\n"), err: err.join("\n") };
}
