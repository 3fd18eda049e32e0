import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

let ticksPerSecond: number | null = null;

/**
 * processCpuMs returns the CPU time (user + system, all threads) a process has used so far, in
 * milliseconds, read from `/proc/<pid>/stat` (10 ms resolution). Null off Linux or when the
 * process is gone; never throws.
 */
export function processCpuMs(pid: number | undefined): number | null {
  if (pid === undefined || process.platform !== "linux") return null;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ticks = Number(fields[11]) + Number(fields[12]);
    if (!Number.isFinite(ticks)) return null;
    ticksPerSecond ??= clockTicks();
    return (ticks * 1000) / ticksPerSecond;
  } catch {
    return null;
  }
}

function clockTicks(): number {
  try {
    const value = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());
    return Number.isFinite(value) && value > 0 ? value : 100;
  } catch {
    return 100;
  }
}
