import { type App, createApp } from "../app.js";
import { loadConfig } from "../config.js";
import type { AnyModule } from "../platform/module.js";
import { defineCommand, parse } from "./command.js";
import { type CliIo, printJson } from "./io.js";

/** migrate runs `baseplate migrate up|down|status` against the configured database. */
async function migrate(
  io: CliIo,
  sub: "up" | "down" | "status",
  options: { steps?: number | undefined; all?: boolean; json: boolean },
  modules?: readonly AnyModule[],
): Promise<number> {
  const steps = options.steps ?? 1;
  const config = loadConfig(io.env);
  const app: App = await createApp({
    config: { ...config, logLevel: "warn" },
    ...(modules ? { modules } : {}),
  });
  try {
    if (sub === "status") {
      const status = await app.migrator.status();
      if (options.json) {
        printJson(
          io,
          status.map((m) => ({
            name: m.name,
            applied: m.executedAt !== undefined && m.executedAt !== null,
            executedAt: m.executedAt?.toISOString() ?? null,
          })),
        );
        return 0;
      }
      for (const m of status) {
        io.out(
          `${m.executedAt ? "applied" : "pending"}  ${m.name}${m.executedAt ? `  (${m.executedAt.toISOString()})` : ""}`,
        );
      }
      const pending = status.filter((m) => !m.executedAt).length;
      io.out(`${status.length - pending} applied, ${pending} pending.`);
    } else if (sub === "up") {
      const applied = await app.migrator.up();
      if (options.json) {
        printJson(io, { applied });
        return 0;
      }
      for (const name of applied) io.out(`applied   ${name}`);
      io.out(applied.length === 0 ? "Already up to date." : `Applied ${applied.length} migration(s).`);
    } else {
      const reverted = options.all ? await app.migrator.reset() : await app.migrator.down(steps);
      if (options.json) {
        printJson(io, { reverted });
        return 0;
      }
      for (const name of reverted) io.out(`reverted  ${name}`);
      io.out(reverted.length === 0 ? "Nothing to revert." : `Reverted ${reverted.length} migration(s).`);
    }
    return 0;
  } finally {
    await app.db.close();
  }
}

/** migrateCommands: apply, revert and list the database migrations on this machine. */
export const migrateCommands = [
  defineCommand({
    name: "migrate up",
    section: "local",
    summary: "Apply every pending database migration.",
    json: true,
    run: ({ io, json, modules }) => migrate(io, "up", { json }, modules),
  }),
  defineCommand({
    name: "migrate down",
    section: "local",
    summary: "Revert the newest migration (or N, or all of them).",
    flags: {
      steps: { type: "string", value: "N", description: "Revert N migrations.", parse: parse.positiveInt() },
      all: { type: "boolean", description: "Revert every migration." },
    },
    json: true,
    run: ({ io, flags, json, modules }) =>
      migrate(io, "down", { steps: flags.steps as number | undefined, all: flags.all === true, json }, modules),
  }),
  defineCommand({
    name: "migrate status",
    section: "local",
    summary: "List migrations and whether each is applied.",
    json: true,
    run: ({ io, json, modules }) => migrate(io, "status", { json }, modules),
  }),
];
