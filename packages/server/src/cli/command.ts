import { parseArgs } from "node:util";
import type { AnyModule } from "../platform/module.js";
import type { CliIo } from "./io.js";

/**
 * EXIT: the CLI's exit codes, the same for every command (documented in `baseplate --help` and
 * docs/cli.md). `denied` is only `access explain`'s answer "not allowed".
 */
export const EXIT = {
  ok: 0,
  /** failure: the command failed, or the plane answered with a problem. */
  failure: 1,
  /** usage: unknown command or option, missing or bad value. Nothing was done. */
  usage: 2,
  /** denied: `access explain` answered "not allowed". */
  denied: 3,
  /** offline: no plane to talk to: not signed in, or the plane is unreachable. */
  offline: 4,
} as const;

/** Section: where a command acts, the split `baseplate --help` shows. */
export type Section = "remote" | "local";

/** FlagSpec declares one `--name` option of a command. */
export interface FlagSpec {
  type: "string" | "boolean";
  description: string;
  /** required: the command refuses to run without it (a usage error). */
  required?: boolean;
  /** value: the placeholder in help (`--since TIME`); default VALUE. */
  value?: string;
  short?: string;
  /**
   * parse checks and converts a string value; it throws an Error whose message completes
   * "Bad value for --name: …" (a usage error).
   */
  parse?: (raw: string) => unknown;
}

/** ArgSpec declares one positional argument, in order. */
export interface ArgSpec {
  name: string;
  description: string;
  /** optional: the command runs without it (default: required). */
  optional?: boolean;
}

/** CommandContext is what a command's `run` receives once its arguments were checked. */
export interface CommandContext {
  io: CliIo;
  command: Command;
  /** args: positional arguments by their declared name. */
  args: Record<string, string | undefined>;
  /** flags: flag values after `parse` (strings stay strings when there is no `parse`). */
  flags: Record<string, unknown>;
  /** json: `--json` was given (always false for a command that does not accept it). */
  json: boolean;
  modules?: readonly AnyModule[] | undefined;
}

/**
 * Command is one `baseplate …` command as declared data: its words, the flags and arguments it
 * accepts, whether it has `--json` output, and whether it talks to a plane (then it also accepts
 * `--url`, `--key` and `--profile`). The framework checks the command line against it, prints its
 * help and turns a mistake into a usage error (exit 2) before `run` is called.
 */
export interface Command {
  /** name: the words after `baseplate`, e.g. "tenants list". */
  name: string;
  /** usage: the argument part of the synopsis when it says more than the declared args. */
  summary: string;
  description?: string;
  section: Section;
  args?: readonly ArgSpec[];
  flags?: Readonly<Record<string, FlagSpec>>;
  /** json: the command accepts `--json` and then prints JSON only on stdout. */
  json?: boolean;
  /** remote: the command talks to a plane (adds the connection flags). */
  remote?: boolean;
  /** hidden: left out of `baseplate --help` (still has its own help). */
  hidden?: boolean;
  examples?: readonly string[];
  run(ctx: CommandContext): Promise<number>;
}

/** defineCommand types a command declaration (an identity function). */
export function defineCommand(command: Command): Command {
  return command;
}

/** UsageError is a command-line mistake: printed as is, exit 2, nothing was done. */
export class UsageError extends Error {}

/** CONNECTION_FLAGS are accepted by every remote command; they override the profile. */
export const CONNECTION_FLAGS: Readonly<Record<string, FlagSpec>> = {
  url: { type: "string", value: "URL", description: "The plane's base URL (overrides BASEPLATE_URL and the profile)." },
  key: { type: "string", value: "KEY", description: "The API key (overrides BASEPLATE_API_KEY and the profile)." },
  profile: {
    type: "string",
    value: "NAME",
    description: "The saved profile to use (default: BASEPLATE_PROFILE or the current one).",
  },
  environment: {
    type: "string",
    value: "ENV_ID",
    description:
      "The environment an operator token acts in (overrides BASEPLATE_ENVIRONMENT and the profile; sent as Baseplate-Environment).",
  },
};

const JSON_FLAG: FlagSpec = { type: "boolean", description: "Print JSON (for scripts) instead of text." };
const HELP_FLAG: FlagSpec = { type: "boolean", short: "h", description: "Show this help." };

/** flagsOf lists every flag a command accepts, in help order. */
export function flagsOf(command: Command): Array<[string, FlagSpec]> {
  return [
    ...Object.entries(command.flags ?? {}),
    ...(command.json ? ([["json", JSON_FLAG]] as Array<[string, FlagSpec]>) : []),
    ...(command.remote ? Object.entries(CONNECTION_FLAGS) : []),
    ["help", HELP_FLAG],
  ];
}

/** synopsis is `baseplate <name> <arg> [<optional>] [options]`. */
export function synopsis(command: Command): string {
  const args = (command.args ?? []).map((a) => (a.optional ? `[<${a.name}>]` : `<${a.name}>`));
  const required = Object.entries(command.flags ?? {})
    .filter(([, f]) => f.required)
    .map(([name, f]) => `--${name}${f.type === "string" ? ` ${f.value ?? "VALUE"}` : ""}`);
  return ["baseplate", command.name, ...args, ...required, "[options]"].join(" ");
}

/**
 * parseCommandLine checks `argv` (the words after the command's name) against the command's
 * declaration and returns its arguments and flags. Throws UsageError naming the command and its
 * help for an unknown option, a missing or bad value, a missing or extra argument.
 */
export function parseCommandLine(
  command: Command,
  argv: string[],
): { help: boolean; args: Record<string, string | undefined>; flags: Record<string, unknown>; json: boolean } {
  const accepted = new Map(flagsOf(command));
  const see = `See "baseplate ${command.name} --help".`;
  const options: Record<string, { type: "string" | "boolean"; short?: string }> = {};
  for (const [name, f] of accepted) options[name] = { type: f.type, ...(f.short ? { short: f.short } : {}) };
  const { tokens } = parseArgs({ args: argv, options, strict: false, allowPositionals: true, tokens: true });
  if (tokens.some((t) => t.kind === "option" && t.name === "help"))
    return { help: true, args: {}, flags: {}, json: false };

  const raw: Record<string, string | boolean> = {};
  const positionals: string[] = [];
  for (const token of tokens) {
    if (token.kind === "positional") positionals.push(token.value);
    if (token.kind !== "option") continue;
    const spec = accepted.get(token.name);
    if (!spec) {
      if (token.name === "json") throw new UsageError(`"${command.name}" has no JSON output (no --json). ${see}`);
      throw new UsageError(`Unknown option ${token.rawName} for "${command.name}". ${see}`);
    }
    if (spec.type === "boolean") {
      if (token.value !== undefined) throw new UsageError(`Option --${token.name} takes no value. ${see}`);
      raw[token.name] = true;
    } else {
      if (token.value === undefined || (!token.inlineValue && token.value.startsWith("--"))) {
        throw new UsageError(`Option --${token.name} needs a value (--${token.name} ${spec.value ?? "VALUE"}). ${see}`);
      }
      raw[token.name] = token.value;
    }
  }

  const declared = command.args ?? [];
  const args: Record<string, string | undefined> = {};
  declared.forEach((a, i) => {
    args[a.name] = positionals[i];
    if (positionals[i] === undefined && !a.optional)
      throw new UsageError(`Missing argument <${a.name}> for "${command.name}". ${see}`);
  });
  if (positionals.length > declared.length) {
    throw new UsageError(`Unexpected argument "${positionals[declared.length]}" for "${command.name}". ${see}`);
  }

  const flags: Record<string, unknown> = {};
  for (const [name, spec] of accepted) {
    const value = raw[name];
    if (value === undefined) {
      if (spec.required) throw new UsageError(`Missing option --${name} for "${command.name}". ${see}`);
      continue;
    }
    if (typeof value === "string" && spec.parse) {
      try {
        flags[name] = spec.parse(value);
      } catch (err) {
        throw new UsageError(`Bad value for --${name}: ${(err as Error).message} ${see}`);
      }
    } else flags[name] = value;
  }
  return { help: false, args, flags, json: flags.json === true };
}

/** commandHelp is the text `baseplate <command> --help` prints. */
export function commandHelp(command: Command): string {
  const lines = [`Usage: ${synopsis(command)}`, "", command.summary];
  if (command.description) lines.push("", command.description);
  if (command.section === "remote") {
    lines.push(
      "",
      "Talks to a plane: the signed-in profile (`baseplate login`), BASEPLATE_URL/BASEPLATE_API_KEY or --url/--key.",
    );
  } else {
    lines.push("", "Works on this machine's database (BASEPLATE_DATABASE_URL), not through a plane's API.");
  }
  if ((command.args ?? []).length > 0) {
    lines.push("", "Arguments:");
    for (const a of command.args ?? []) lines.push(...twoColumns(`<${a.name}>`, a.description));
  }
  lines.push("", "Options:");
  for (const [name, f] of flagsOf(command)) {
    const left = `${f.short ? `-${f.short}, ` : ""}--${name}${f.type === "string" ? ` ${f.value ?? "VALUE"}` : ""}`;
    lines.push(...twoColumns(left, `${f.description}${f.required ? " (required)" : ""}`));
  }
  if (command.examples?.length) lines.push("", "Examples:", ...command.examples.map((e) => `  ${e}`));
  lines.push("", EXIT_CODES_HELP);
  return lines.join("\n");
}

/** EXIT_CODES_HELP closes every help text. */
export const EXIT_CODES_HELP =
  "Exit codes: 0 done; 1 failed (or the plane answered with a problem); 2 usage error (nothing was done);\n" +
  "            3 `access explain` denied; 4 not signed in, or the plane is unreachable.";

function twoColumns(left: string, right: string): string[] {
  const width = 24;
  if (left.length + 2 > width) return [`  ${left}`, `  ${"".padEnd(width)}${right}`];
  return [`  ${left.padEnd(width)}${right}`];
}

/** findCommand matches the longest command whose words start `words`. */
export function findCommand(commands: readonly Command[], words: string[]): { command: Command; rest: number } | null {
  let best: Command | null = null;
  let size = 0;
  for (const c of commands) {
    const parts = c.name.split(" ");
    if (parts.length > size && parts.every((p, i) => words[i] === p)) {
      best = c;
      size = parts.length;
    }
  }
  return best ? { command: best, rest: size } : null;
}

/** groupHelp lists the commands of a group (`baseplate tenants`). */
export function groupHelp(commands: readonly Command[], group: string): string {
  const members = commands.filter((c) => c.name.split(" ")[0] === group);
  const lines = [`Usage: baseplate ${group} <command> [options]`, ""];
  for (const c of members) lines.push(...twoColumns(c.name, c.summary));
  lines.push("", `Run "baseplate ${group} <command> --help" for a command's options.`);
  return lines.join("\n");
}

/** parsers for common flag values; each throws an Error completing "Bad value for --x: …". */
export const parse = {
  /** positiveInt: a whole number from 1 to max. */
  positiveInt:
    (max = Number.MAX_SAFE_INTEGER) =>
    (raw: string): number => {
      if (!/^\d+$/.test(raw) || Number(raw) < 1 || Number(raw) > max) {
        throw new Error(`"${raw}" is not a whole number from 1 to ${max}.`);
      }
      return Number(raw);
    },
  /** time: ISO 8601, returned as an ISO string. */
  time: (raw: string): string => {
    const ms = Date.parse(raw);
    if (!/^\d{4}-\d\d-\d\d/.test(raw) || Number.isNaN(ms)) {
      throw new Error(`"${raw}" is not an ISO 8601 time (e.g. 2026-12-01T00:00:00Z).`);
    }
    return new Date(ms).toISOString();
  },
  /** oneOf: one of the listed words. */
  oneOf:
    (...choices: string[]) =>
    (raw: string): string => {
      if (!choices.includes(raw)) throw new Error(`"${raw}" is not one of ${choices.join(", ")}.`);
      return raw;
    },
  /** list: comma-separated words, none empty. */
  list: (raw: string): string[] => {
    const items = raw.split(",").map((s) => s.trim());
    if (items.some((s) => s === "")) throw new Error(`"${raw}" is not a comma-separated list.`);
    return items;
  },
};
