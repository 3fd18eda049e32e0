#!/usr/bin/env node
import { runCli } from "./cli/index.js";

const code = await runCli(process.argv.slice(2), {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  env: process.env,
  onSignal: (signal, handler) => process.on(signal, handler),
  interactive: process.stdin.isTTY === true && process.stderr.isTTY === true,
  stdin: process.stdin,
  // A progress line is redrawn in place, so only on a terminal.
  ...(process.stderr.isTTY
    ? { progress: (line: string | null) => process.stderr.write(line === null ? "\n" : `\r\x1b[2K${line}`) }
    : {}),
});
process.exit(code);
