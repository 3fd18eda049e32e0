import { parseArgs } from "node:util";
import { type App, createApp, StartupError, VERSION } from "../app.js";
import { CONFIG_VARIABLES, ConfigError, loadConfig } from "../config.js";
import { MigrationError } from "../platform/db/index.js";
import type { ModuleDefinition } from "../platform/module.js";

export interface CliIo {
  out(line: string): void;
  err(line: string): void;
  env: NodeJS.ProcessEnv;
  /** onSignal registers a shutdown signal handler (process.once in production). */
  onSignal(signal: "SIGTERM" | "SIGINT", handler: () => void): void;
}

const HELP = `Baseplate ${VERSION}: the production substrate for fast-built products.

Usage: baseplate <command> [options]

Commands:
  start                  Serve the API and run background workers.
  migrate up             Apply every pending database migration.
  migrate down [--steps N | --all]
                         Revert the newest migration (or N, or all of them).
  migrate status         List migrations and whether each is applied.
  help                   Show this help.

Options:
  -h, --help             Show this help.
  -v, --version          Print the version.

Configuration comes from environment variables (defaults in brackets):
${Object.entries(CONFIG_VARIABLES)
  .map(([name, v]) => `  ${name.padEnd(32)} ${v.doc}${v.default ? ` [${v.default}]` : ""}`)
  .join("\n")}

Start here: \`baseplate start\` serves http://127.0.0.1:8080 with an embedded SQLite database;
the API reference is at /docs.`;

/**
 * runCli runs one CLI invocation and returns its exit code: 0 success, 1 failure, 2 usage or
 * configuration error. User mistakes print a message, never a stack trace.
 */
export async function runCli(
  argv: string[],
  io: CliIo,
  modules?: readonly ModuleDefinition<unknown>[],
): Promise<number> {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        help: { type: "boolean", short: "h" },
        version: { type: "boolean", short: "v" },
        steps: { type: "string" },
        all: { type: "boolean" },
      },
    });
  } catch (err) {
    io.err(`baseplate: ${(err as Error).message}\nRun \`baseplate --help\` for usage.`);
    return 2;
  }
  const { values, positionals } = parsed;
  const [command, sub] = positionals;
  if (values.version) {
    io.out(VERSION);
    return 0;
  }
  if (values.help || command === undefined || command === "help") {
    io.out(HELP);
    return command === undefined && !values.help ? 2 : 0;
  }

  try {
    switch (command) {
      case "start":
        return await start(io, modules);
      case "migrate":
        return await migrate(io, sub, values as { steps?: string; all?: boolean }, modules);
      default:
        io.err(`baseplate: unknown command "${command}". Run \`baseplate --help\` for usage.`);
        return 2;
    }
  } catch (err) {
    return report(io, err);
  }
}

async function start(io: CliIo, modules?: readonly ModuleDefinition<unknown>[]): Promise<number> {
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
  io.err(`  Database:  ${where}`);
  io.err("  Stop with Ctrl+C (SIGINT) or SIGTERM; in-flight requests and jobs finish first.");

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

async function migrate(
  io: CliIo,
  sub: string | undefined,
  options: { steps?: string; all?: boolean },
  modules?: readonly ModuleDefinition<unknown>[],
): Promise<number> {
  if (sub !== "up" && sub !== "down" && sub !== "status") {
    io.err("baseplate: use `baseplate migrate up`, `baseplate migrate down` or `baseplate migrate status`.");
    return 2;
  }
  let steps = 1;
  if (options.steps !== undefined) {
    if (!/^\d+$/.test(options.steps) || Number(options.steps) < 1) {
      io.err("baseplate: --steps must be a positive whole number.");
      return 2;
    }
    steps = Number(options.steps);
  }
  const config = loadConfig(io.env);
  const app: App = await createApp({
    config: { ...config, logLevel: "warn" },
    ...(modules ? { modules } : {}),
  });
  try {
    if (sub === "status") {
      const status = await app.migrator.status();
      for (const m of status) {
        io.out(
          `${m.executedAt ? "applied" : "pending"}  ${m.name}${m.executedAt ? `  (${m.executedAt.toISOString()})` : ""}`,
        );
      }
      const pending = status.filter((m) => !m.executedAt).length;
      io.out(`${status.length - pending} applied, ${pending} pending.`);
    } else if (sub === "up") {
      const applied = await app.migrator.up();
      for (const name of applied) io.out(`applied   ${name}`);
      io.out(applied.length === 0 ? "Already up to date." : `Applied ${applied.length} migration(s).`);
    } else {
      const reverted = options.all ? await app.migrator.reset() : await app.migrator.down(steps);
      for (const name of reverted) io.out(`reverted  ${name}`);
      io.out(reverted.length === 0 ? "Nothing to revert." : `Reverted ${reverted.length} migration(s).`);
    }
    return 0;
  } finally {
    await app.db.close();
  }
}

function report(io: CliIo, err: unknown): number {
  if (err instanceof ConfigError) {
    io.err(`baseplate: ${err.message}`);
    return 2;
  }
  if (err instanceof StartupError || err instanceof MigrationError) {
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
