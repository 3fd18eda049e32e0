import { createApp, StartupError, VERSION } from "../app.js";
import { CONFIG_VARIABLES, ConfigError, loadConfig } from "../config.js";
import { identityModule } from "../modules/identity/index.js";
import { MigrationError } from "../platform/db/index.js";
import { AppError } from "../platform/errors.js";
import type { AnyModule } from "../platform/module.js";
import { MasterKeyError } from "../platform/secrets-vault.js";
import { auditVerifyCommand } from "./audit.js";
import { backupCommands } from "./backup.js";
import {
  type Command,
  commandHelp,
  defineCommand,
  EXIT,
  EXIT_CODES_HELP,
  findCommand,
  groupHelp,
  parseCommandLine,
  UsageError,
} from "./command.js";
import { type InitOptions, InitRefused, initPlane, printInit, promptMissing } from "./init.js";
import type { CliIo } from "./io.js";
import { rotateMasterCommand } from "./keys.js";
import { mailCommands } from "./mail.js";
import { mcpCommand } from "./mcp.js";
import { migrateCommands } from "./migrate.js";
import { REMOTE_COMMANDS, reportRemote } from "./remote/index.js";
import { accessExplainCommand, tenantStateCommands } from "./tenants.js";
import { webhooksRecoverCommand } from "./webhooks.js";

export type { Command, CommandContext, FlagSpec } from "./command.js";
export { defineCommand, EXIT, UsageError } from "./command.js";
export type { CliIo } from "./io.js";

/** LOCAL_COMMANDS work on this machine's database (BASEPLATE_DATABASE_URL), not through the API. */
const LOCAL_COMMANDS: Command[] = [
  defineCommand({
    name: "init",
    section: "local",
    summary: "Create the first operator and, optionally, a first project with its keys.",
    description:
      "The project gets development and production environments, an API surface and a secret key in\n" +
      "each. Credentials are shown once. In a terminal, what the flags do not give is asked for.",
    flags: {
      email: { type: "string", value: "EMAIL", description: "The operator's email." },
      name: { type: "string", value: "NAME", description: "The operator's name (default: the email)." },
      password: {
        type: "string",
        value: "PASSWORD",
        description: "The operator's password (or BASEPLATE_INIT_PASSWORD).",
      },
      project: { type: "string", value: "NAME", description: 'The first project\'s name (default "My project").' },
      "no-project": { type: "boolean", description: "Create the operator only." },
    },
    json: true,
    run: ({ io, flags, modules }) => init(io, flags as Record<string, string | boolean | undefined>, modules),
  }),
  defineCommand({
    name: "start",
    section: "local",
    summary: "Serve the API and run background workers (until SIGINT or SIGTERM).",
    run: ({ io, modules }) => start(io, modules),
  }),
  ...migrateCommands,
  ...tenantStateCommands,
  accessExplainCommand,
  auditVerifyCommand,
  webhooksRecoverCommand,
  rotateMasterCommand,
  ...mailCommands,
  ...backupCommands,
];

/**
 * COMMANDS is every `baseplate` command, the table of contents of the CLI. To add one, declare it
 * with `defineCommand` in its own file (its flags, arguments, `json`, `section`, `run`) and list it
 * here; the framework gives it parsing, usage errors, `--help` and a line in the global help.
 */
export const COMMANDS: readonly Command[] = [...REMOTE_COMMANDS, mcpCommand, ...LOCAL_COMMANDS];

function helpText(commands: readonly Command[]): string {
  const list = (section: Command["section"]) =>
    commands
      .filter((c) => c.section === section && !c.hidden)
      .map((c) =>
        c.name.length > 22 ? `  ${c.name}\n  ${"".padEnd(23)}${c.summary}` : `  ${c.name.padEnd(23)}${c.summary}`,
      )
      .join("\n");
  return `Baseplate ${VERSION}: the production substrate for fast-built products.

Usage: baseplate <command> [options]      baseplate <command> --help for a command's options

Talk to a plane (over its API; sign in once with \`baseplate login\`, or set BASEPLATE_URL and
BASEPLATE_API_KEY, or pass --url and --key):
${list("remote")}

On this machine (the plane's own database, BASEPLATE_DATABASE_URL; no API involved):
${list("local")}
  help [<command>]       Show this help, or a command's.

Options:
  -h, --help             Show this help.
  -v, --version          Print the version.
  --json                 Print JSON (for scripts), on every command that has JSON output.

${EXIT_CODES_HELP}

Configuration comes from environment variables (defaults in brackets):
${Object.entries(CONFIG_VARIABLES)
  .map(([name, v]) => `  ${name.padEnd(32)} ${v.doc}${v.default ? ` [${v.default}]` : ""}`)
  .join("\n")}
  BASEPLATE_URL, BASEPLATE_API_KEY, BASEPLATE_PROFILE  The plane the remote commands talk to.

Start here: \`baseplate start\` serves http://127.0.0.1:8080 with an embedded SQLite database;
the API reference is at /docs. Reference: docs/cli.md.`;
}

/**
 * runCli runs one CLI invocation and returns its exit code (`EXIT`): 0 done, 1 failure (or a
 * problem from the plane), 2 usage or configuration error, 3 `access explain` denied, 4 not signed
 * in or the plane unreachable. User mistakes print a message, never a stack trace.
 */
export async function runCli(
  argv: string[],
  io: CliIo,
  modules?: readonly AnyModule[],
  commands: readonly Command[] = COMMANDS,
): Promise<number> {
  const words: string[] = [];
  for (const a of argv) {
    if (a.startsWith("-")) break;
    words.push(a);
  }
  const flags = argv.slice(words.length);
  const wantsHelp = flags.includes("--help") || flags.includes("-h");
  if (words.length === 0) {
    if (flags[0] === "--version" || flags[0] === "-v") {
      io.out(VERSION);
      return EXIT.ok;
    }
    if (wantsHelp) {
      io.out(helpText(commands));
      return EXIT.ok;
    }
    if (flags.length === 0) {
      io.out(helpText(commands));
      return EXIT.usage;
    }
    io.err(`baseplate: unknown option ${flags[0]}. Run \`baseplate --help\` for usage.`);
    return EXIT.usage;
  }
  if (words[0] === "help") {
    const found = findCommand(commands, words.slice(1));
    if (found) io.out(commandHelp(found.command));
    else if (words[1] && commands.some((c) => c.name.startsWith(`${words[1]} `))) io.out(groupHelp(commands, words[1]));
    else io.out(helpText(commands));
    return EXIT.ok;
  }
  const found = findCommand(commands, words);
  if (!found) {
    const group = words[0] as string;
    if (commands.some((c) => c.name.startsWith(`${group} `))) {
      if (wantsHelp && words.length === 1) {
        io.out(groupHelp(commands, group));
        return EXIT.ok;
      }
      io.err(
        words[1] === undefined
          ? `baseplate: "${group}" needs a command.`
          : `baseplate: unknown command "${group} ${words[1]}".`,
      );
      io.err(groupHelp(commands, group));
      return EXIT.usage;
    }
    io.err(`baseplate: unknown command "${group}". Run \`baseplate --help\` for usage.`);
    return EXIT.usage;
  }
  const { command, rest } = found;
  try {
    const parsed = parseCommandLine(command, argv.slice(rest));
    if (parsed.help) {
      io.out(commandHelp(command));
      return EXIT.ok;
    }
    return await command.run({ io, command, args: parsed.args, flags: parsed.flags, json: parsed.json, modules });
  } catch (err) {
    return report(io, err);
  }
}

async function init(
  io: CliIo,
  values: Record<string, string | boolean | undefined>,
  modules?: readonly AnyModule[],
): Promise<number> {
  const json = values.json === true;
  let options: InitOptions = {
    interactive: !json && io.interactive === true,
    json,
    noProject: values["no-project"] === true,
    ...(typeof values.email === "string" ? { email: values.email } : {}),
    ...(typeof values.name === "string" ? { name: values.name } : {}),
    ...(typeof values.password === "string"
      ? { password: values.password }
      : io.env.BASEPLATE_INIT_PASSWORD
        ? { password: io.env.BASEPLATE_INIT_PASSWORD }
        : {}),
    ...(typeof values.project === "string" ? { project: values.project } : {}),
  };
  const config = loadConfig(io.env);
  const app = await createApp({ config: { ...config, logLevel: "warn" }, ...(modules ? { modules } : {}) });
  try {
    await app.start({ listen: false, workers: false });
    const identity = app.service(identityModule);
    if (!identity) throw new StartupError("This build has no identity module.");
    if ((await identity.operators.countOperators()) > 0) {
      io.err("baseplate: this plane is already initialised. Operators log in with POST /v1/operator/login.");
      return 1;
    }
    if (io.stdin) options = await promptMissing(options, io, io.stdin);
    const missing = (["email", "password"] as const).filter((k) => !options[k]);
    if (missing.length > 0) {
      io.err(
        `baseplate: init needs ${missing.map((m) => `--${m}`).join(" and ")} (or run it in a terminal to be asked).`,
      );
      return 2;
    }
    const result = await initPlane(app, {
      email: options.email as string,
      name: options.name ?? (options.email as string),
      password: options.password as string,
      project: options.noProject ? null : (options.project ?? "My project"),
    });
    if (json) io.out(JSON.stringify(result, null, 2));
    else printInit(result, io, `http://${config.host}:${config.port}`);
    return 0;
  } catch (err) {
    if (err instanceof InitRefused) {
      io.err(`baseplate: ${err.message}`);
      return 1;
    }
    if (err instanceof AppError) {
      io.err(`baseplate: ${err.message}`);
      return 2;
    }
    throw err;
  } finally {
    await app.stop();
  }
}

async function start(io: CliIo, modules?: readonly AnyModule[]): Promise<number> {
  const config = loadConfig(io.env);
  const app = await createApp({ config, ...(modules ? { modules } : {}) });
  let address: string | null;
  try {
    address = await app.start();
  } catch (err) {
    await app.stop().catch(() => undefined);
    throw err;
  }
  const where =
    config.database.engine === "sqlite" ? config.database.file : `PostgreSQL (schema ${config.database.schema})`;
  io.err(`Baseplate ${VERSION} listening on ${address}`);
  io.err(`  API docs:  ${address}/docs`);
  io.err(`  Console:   ${address}/console`);
  io.err(`  Database:  ${where}`);
  io.err("  Stop with Ctrl+C (SIGINT) or SIGTERM; in-flight requests and jobs finish first.");
  const identity = app.service(identityModule);
  if (identity && (await identity.operators.countOperators()) === 0) {
    io.err("\n  This plane has no operator yet. In another terminal, in this repository, run");
    io.err("  `npx --no-install baseplate init` to create the first operator, project and keys.");
  }

  return new Promise<number>((resolve) => {
    let stopping = false;
    const shutdown = (signal: string) => {
      if (stopping) {
        io.err(`Received ${signal} again: exiting now.`);
        resolve(1);
        return;
      }
      stopping = true;
      app.logger.info({ signal }, "shutting down");
      const force = setTimeout(() => {
        io.err("Shutdown timed out: exiting.");
        resolve(1);
      }, config.shutdownTimeoutMs + 5000);
      force.unref();
      app.stop().then(
        () => {
          clearTimeout(force);
          resolve(0);
        },
        (err) => {
          clearTimeout(force);
          app.logger.error({ err }, "shutdown failed");
          resolve(1);
        },
      );
    };
    io.onSignal("SIGTERM", () => shutdown("SIGTERM"));
    io.onSignal("SIGINT", () => shutdown("SIGINT"));
  });
}

function report(io: CliIo, err: unknown): number {
  if (err instanceof UsageError) {
    io.err(`baseplate: ${err.message}`);
    return EXIT.usage;
  }
  const remote = reportRemote(io, err);
  if (remote !== null) return remote;
  if (err instanceof ConfigError) {
    io.err(`baseplate: ${err.message}`);
    return 2;
  }
  if (err instanceof StartupError || err instanceof MigrationError || err instanceof MasterKeyError) {
    io.err(`baseplate: ${err.message}`);
    return 1;
  }
  const e = err as NodeJS.ErrnoException;
  if (e?.code === "EADDRINUSE") {
    io.err(`baseplate: the port is already in use (${e.message}). Set BASEPLATE_PORT to another port.`);
    return 1;
  }
  if (e?.code === "ECONNREFUSED" || e?.code === "ENOTFOUND" || e?.code === "28P01" || e?.code === "3D000") {
    io.err(`baseplate: cannot connect to the database: ${e.message}. Check BASEPLATE_DATABASE_URL.`);
    return 1;
  }
  io.err(`baseplate: ${e?.message ?? String(err)}`);
  if (io.env.BASEPLATE_LOG_LEVEL === "debug" && e?.stack) io.err(e.stack);
  else io.err("(set BASEPLATE_LOG_LEVEL=debug for details)");
  return 1;
}
