import type { Command } from "../command.js";
import type { CliIo } from "../io.js";

/** REMOTE_COMMANDS talk to a plane over its API. */
export const REMOTE_COMMANDS: Command[] = [];

/** reportRemote prints an error of a remote command and returns its exit code, or null for another error. */
export function reportRemote(_io: CliIo, _err: unknown): number | null {
  return null;
}
