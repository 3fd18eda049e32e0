import { parseArgs } from "node:util";
import { type App, createApp, StartupError, VERSION } from "../app.js";
import { CONFIG_VARIABLES, ConfigError, loadConfig } from "../config.js";
import { identityModule } from "../modules/identity/index.js";
import { MigrationError } from "../platform/db/index.js";
import { AppError } from "../platform/errors.js";
import type { AnyModule } from "../platform/module.js";
import { MasterKeyError } from "../platform/secrets-vault.js";
import { auditVerify } from "./audit.js";
import { type InitOptions, InitRefused, initPlane, printInit, promptMissing } from "./init.js";
import { KEYS_HELP, keysCommand } from "./keys.js";
import { MAIL_HELP, mailCommand } from "./mail.js";
import { MCP_HELP, mcpCommand } from "./mcp.js";
import { accessCommand, TENANTS_HELP, tenantsCommand } from "./tenants.js";
import { WEBHOOKS_HELP, webhooksCommand } from "./webhooks.js";

export interface CliIo {
  out(line: string): void;
  err(line: string): void;
  env: NodeJS.ProcessEnv;
  /** onSignal registers a shutdown signal handler (process.once in production). */
  onSignal(signal: "SIGTERM" | "SIGINT", handler: () => void): void;
  /** interactive: a person is at the terminal (prompts allowed). */
  interactive?: boolean;
  stdin?: NodeJS.ReadableStream;
}

const HELP = `Baseplate ${VERSION}: the production substrate for fast-built products.

Usage: baseplate <command> [options]

Commands:
  init                   Create the first operator and, optionally, a first project with
                         development and production environments and their secret keys.
                         Flags: --email --name --password (or BASEPLATE_INIT_PASSWORD)
                                --project NAME | --no-project   --json (for scripts)
  start                  Serve the API and run background workers.
  migrate up             Apply every pending database migration.
  migrate down [--steps N | --all]
                         Revert the newest migration (or N, or all of them).
  migrate status         List migrations and whether each is applied.
${TENANTS_HELP}
  audit verify <export-file> --public-key <file> [--json]
                         Verify an audit export (JSON Lines from GET /v1/audit/export) offline
                         against the plane's public keys (a PEM file, or the JSON saved from
                         GET /v1/audit/public-keys). Exit 0: intact; 1: tampered or unverifiable.
${WEBHOOKS_HELP}
${KEYS_HELP}
${MAIL_HELP}
${MCP_HELP}
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
export async function runCli(argv: string[], io: CliIo, modules?: readonly AnyModule[]): Promise<number> {
  if (argv[0] === "mcp") return mcpCommand(argv.slice(1), io).catch((err) => report(io, err));
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
        email: { type: "string" },
        name: { type: "string" },
        password: { type: "string" },
        project: { type: "string" },
        "no-project": { type: "boolean" },
        json: { type: "boolean" },
        reason: { type: "string" },
        billing: { type: "boolean" },
        tenant: { type: "string" },
        permission: { type: "string" },
        user: { type: "string" },
        "tenant-key": { type: "string" },
        "agent-key": { type: "string" },
        since: { type: "string" },
        "public-key": { type: "string" },
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
      case "init":
        return await init(io, values as Record<string, string | boolean | undefined>, modules);
      case "audit":
        if (sub !== "verify") {
          io.err("baseplate: unknown audit command. Usage: baseplate audit verify <export-file> --public-key <file>");
          return 2;
        }
        return await auditVerify(io, positionals[2], values as { "public-key"?: string; json?: boolean });
      case "migrate":
        return await migrate(io, sub, values as { steps?: string; all?: boolean }, modules);
      case "tenants":
        return await tenantsCommand(io, sub, positionals[2], values as Record<string, string | boolean>, modules);
      case "access":
        return await accessCommand(io, sub, values as Record<string, string | boolean>, modules);
      case "keys":
        return await keysCommand(io, sub, modules);
      case "mail":
        return await mailCommand(io, sub, positionals[2], values as { json?: boolean }, modules);
      case "webhooks":
        return await webhooksCommand(io, sub, positionals[2], values as Record<string, string | boolean>, modules);
      default:
        io.err(`baseplate: unknown command "${command}". Run \`baseplate --help\` for usage.`);
        return 2;
    }
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

async function migrate(
  io: CliIo,
  sub: string | undefined,
  options: { steps?: string; all?: boolean },
  modules?: readonly AnyModule[],
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
