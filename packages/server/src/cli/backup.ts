import { existsSync } from "node:fs";
import { userInfo } from "node:os";
import { type App, createApp, MODULES } from "../app.js";
import { type Config, loadConfig } from "../config.js";
import { type AuditService, auditModule } from "../modules/audit/index.js";
import {
  type BackupProgress,
  backupsModule,
  checkBackup,
  openTarget,
  RestoreRefused,
  restoreBackup,
  splitBackupLocation,
} from "../modules/backups/index.js";
import { PLATFORM_MIGRATIONS } from "../platform/db/index.js";
import { AppError } from "../platform/errors.js";
import { newId } from "../platform/ids.js";
import type { AnyModule } from "../platform/module.js";
import { systemContext } from "../platform/principal.js";
import { type CommandContext, defineCommand, EXIT, parse, UsageError } from "./command.js";
import { type CliIo, details, printJson, table } from "./io.js";

/** cliContext: the CLI acts as a system actor named after the operating-system user (audit shows who). */
function cliContext() {
  let who = "unknown";
  try {
    who = userInfo().username;
  } catch {
    // no passwd entry (containers): keep "unknown"
  }
  return systemContext(newId("request"), `cli:${who}`);
}

function mib(bytes: number): string {
  return bytes < 1024 * 1024 ? `${(bytes / 1024).toFixed(1)} KiB` : `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/** progressLine draws a backup's progress on the terminal's status line (nothing when stderr is not one). */
function progressLine(io: CliIo) {
  return (p: BackupProgress) => {
    if (!io.progress) return;
    const what = {
      files: "copying files",
      database: "snapshotting the database",
      hashing: "hashing",
      upload: "uploading",
    }[p.phase];
    io.progress(`${what} ${p.done}/${p.total}${p.detail ? `  ${p.detail.slice(-50)}` : ""}`);
  };
}

/** openPlane opens this machine's plane without starting it (no migration, no listener, no worker). */
async function openPlane(io: CliIo, modules: readonly AnyModule[] | undefined): Promise<App> {
  const config = loadConfig(io.env);
  if (config.database.engine === "sqlite" && !existsSync(config.database.file)) {
    throw new UsageError(
      `No plane here: ${config.database.file} does not exist. Set BASEPLATE_DATA_DIR to the plane's data dir.`,
    );
  }
  return createApp({ config: { ...config, logLevel: "warn" }, ...(modules ? { modules } : {}) });
}

async function create(ctx: CommandContext): Promise<number> {
  const { io, json } = ctx;
  const app = await openPlane(io, ctx.modules);
  try {
    const service = app.service(backupsModule);
    const to = (ctx.flags.to as string | undefined) ?? app.config.backups.target;
    if (!json) io.err(`Backing up ${describePlane(app.config)} to ${to} …`);
    const taken = await service.takeBackup(cliContext(), {
      target: to,
      ...(ctx.flags.keep !== undefined ? { keep: ctx.flags.keep as number } : {}),
      onProgress: progressLine(io),
    });
    io.progress?.(null);
    if (json) {
      printJson(io, { ...taken.backup, pruned: taken.pruned });
      return EXIT.ok;
    }
    io.out(`Backup ${taken.backup.id} done: ${taken.manifest.files.length} file(s), ${mib(taken.backup.totalBytes)}.`);
    io.out(`  Location:   ${taken.backup.location}`);
    io.out(`  Snapshot:   ${taken.backup.snapshotAt} (every write acknowledged before it is in the backup)`);
    if (taken.pruned.length > 0) io.out(`  Deleted (retention): ${taken.pruned.join(", ")}`);
    io.out("  The master key is not in the backup: keep it apart (see docs/backups.md). A restore needs it.");
    return EXIT.ok;
  } catch (err) {
    io.progress?.(null);
    if (err instanceof AppError) {
      io.err(`baseplate: ${err.message}`);
      return EXIT.failure;
    }
    throw err;
  } finally {
    await app.db.close();
  }
}

function describePlane(config: Config): string {
  return config.database.engine === "sqlite" ? config.database.file : `PostgreSQL (schema ${config.database.schema})`;
}

/** targetOf: --target, else BASEPLATE_BACKUP_TARGET (default `backups` in the data dir). */
function targetOf(ctx: CommandContext) {
  const config = loadConfig(ctx.io.env);
  return openTarget((ctx.flags.target as string | undefined) ?? config.backups.target, config.backups.s3);
}

async function list(ctx: CommandContext): Promise<number> {
  const { io } = ctx;
  const target = targetOf(ctx);
  const rows = [];
  for (const id of (await target.ids()).reverse()) {
    const m = await target.manifest(id);
    if (m) rows.push({ ...m, location: target.where(id) });
  }
  if (ctx.json) {
    printJson(
      io,
      rows.map(({ files, ...m }) => ({ ...m, files: files.length })),
    );
    return EXIT.ok;
  }
  table(
    io,
    rows,
    [
      { heading: "id", value: (r) => r.id },
      { heading: "created", value: (r) => r.createdAt },
      { heading: "engine", value: (r) => r.engine },
      { heading: "version", value: (r) => r.planeVersion },
      { heading: "files", value: (r) => r.files.length },
      { heading: "size", value: (r) => mib(r.totalBytes) },
    ],
    `No backups in ${target.location}.`,
  );
  return EXIT.ok;
}

/** resolveBackup: a backup's full location, or an id in --target / the configured target. */
function resolveBackup(ctx: CommandContext, given: string) {
  const split = splitBackupLocation(given);
  if (!split) throw new UsageError(`"${given}" is not a backup (a path or s3:// location ending in backup-…).`);
  if (!given.includes("/")) return { target: targetOf(ctx), id: split.id };
  const config = loadConfig(ctx.io.env);
  return { target: openTarget(split.target, config.backups.s3), id: split.id };
}

async function verify(ctx: CommandContext): Promise<number> {
  const { io } = ctx;
  const { target, id } = resolveBackup(ctx, ctx.args.backup as string);
  const manifest = await target.manifest(id).catch((err: Error) => {
    io.err(`baseplate: the manifest of ${target.where(id)} is unreadable: ${err.message}`);
    return undefined;
  });
  if (manifest === undefined) return EXIT.failure;
  if (manifest === null) {
    io.err(`baseplate: no backup at ${target.where(id)} (no manifest).`);
    return EXIT.failure;
  }
  const check = await checkBackup(target, manifest, (done, total, path) =>
    io.progress?.(`verifying ${done}/${total}  ${path.slice(-50)}`),
  );
  io.progress?.(null);
  if (ctx.json) {
    printJson(io, check);
    return check.ok ? EXIT.ok : EXIT.failure;
  }
  if (check.ok) {
    io.out(`OK: ${id}: ${check.files} file(s), ${mib(check.bytes)}, every SHA-256 matches the manifest.`);
    return EXIT.ok;
  }
  io.out(`FAILED: ${id}: ${check.problems.length} problem(s)`);
  for (const p of check.problems) io.out(`  [${p.kind}] ${p.path}: ${p.message}`);
  return EXIT.failure;
}

async function restore(ctx: CommandContext): Promise<number> {
  const { io, json } = ctx;
  const { target, id } = resolveBackup(ctx, ctx.flags.from as string);
  const into = ctx.flags.into as string;
  const databaseUrl = ctx.flags["database-url"] as string | undefined;
  const modules = ctx.modules ?? MODULES;
  const knownMigrations = [...PLATFORM_MIGRATIONS, ...modules.flatMap((m) => [...m.migrations])].map((m) => m.name);
  let result: Awaited<ReturnType<typeof restoreBackup>>;
  try {
    const manifest = await target.manifest(id);
    const schema = (ctx.flags.schema as string | undefined) ?? manifest?.schema ?? "public";
    if (!json) io.err(`Restoring ${target.where(id)} into ${into} …`);
    result = await restoreBackup({
      target,
      id,
      dataDir: into,
      ...(databaseUrl ? { postgres: { url: databaseUrl, schema } } : {}),
      knownMigrations,
      onProgress: (phase, done, total, detail) =>
        io.progress?.(
          `${phase === "files" ? "restoring files" : "pg_restore"} ${done}/${total}  ${(detail ?? "").slice(-50)}`,
        ),
    });
    io.progress?.(null);
  } catch (err) {
    io.progress?.(null);
    if (err instanceof RestoreRefused || err instanceof Error) {
      io.err(`baseplate: ${err.message}`);
      return EXIT.failure;
    }
    throw err;
  }

  // The restored plane's own check: every audit chain verifies against the plane's published keys.
  const env: NodeJS.ProcessEnv = {
    ...io.env,
    BASEPLATE_DATA_DIR: result.dataDir,
    BASEPLATE_STORAGE_DIR: "",
    BASEPLATE_DATABASE_URL: databaseUrl ?? "",
    ...(databaseUrl ? { BASEPLATE_DATABASE_SCHEMA: result.manifest.schema ?? "public" } : {}),
  };
  const app = await createApp({ config: { ...loadConfig(env), logLevel: "warn" }, modules });
  let chains: Awaited<ReturnType<AuditService["verifyAllChains"]>>;
  try {
    chains = await app.service(auditModule).verifyAllChains();
  } finally {
    await app.db.close();
  }
  const broken = chains.filter((c) => !c.ok);
  const startEnv = [
    `BASEPLATE_DATA_DIR=${result.dataDir}`,
    ...(databaseUrl
      ? [`BASEPLATE_DATABASE_URL=<the database>`, `BASEPLATE_DATABASE_SCHEMA=${result.manifest.schema}`]
      : []),
    "BASEPLATE_MASTER_KEY_FILE=<the plane's master key>",
  ].join(" ");
  if (json) {
    printJson(io, {
      id: result.manifest.id,
      dataDir: result.dataDir,
      engine: result.manifest.engine,
      planeVersion: result.manifest.planeVersion,
      createdAt: result.manifest.createdAt,
      snapshotAt: result.manifest.snapshotAt,
      files: result.check.files,
      bytes: result.check.bytes,
      pendingMigrations: result.pendingMigrations,
      chains: { verified: chains.length - broken.length, failed: broken.map((c) => c.chain) },
    });
    return broken.length === 0 ? EXIT.ok : EXIT.failure;
  }
  details(io, [
    ["Restored", `${result.manifest.id} (Baseplate ${result.manifest.planeVersion}, ${result.manifest.engine})`],
    ["Snapshot", result.manifest.snapshotAt],
    ["Into", result.dataDir],
    ["Files", `${result.check.files} (${mib(result.check.bytes)}), every SHA-256 checked`],
    ["Audit chains", broken.length === 0 ? `${chains.length} verified` : `${broken.length} of ${chains.length} FAILED`],
    [
      "Migrations",
      result.pendingMigrations.length === 0
        ? `${result.manifest.migrations.length}, as this build knows them`
        : `${result.pendingMigrations.length} newer in this build: applied at start (or \`baseplate migrate up\`)`,
    ],
  ]);
  for (const c of broken) io.out(`  chain ${c.chain}: ${c.errors.map((e) => e.message).join("; ")}`);
  if (result.manifest.storage.driver === "s3") {
    io.out(`The files stayed in the bucket ${result.manifest.storage.bucket}: point BASEPLATE_STORAGE_* at it.`);
  }
  io.out("");
  io.out("Start the restored plane with its master key (never in a backup):");
  io.out(`  ${startEnv} baseplate start`);
  return broken.length === 0 ? EXIT.ok : EXIT.failure;
}

const TARGET_FLAG = {
  type: "string",
  value: "DIR|s3://BUCKET/PREFIX",
  description: "The backup target (default: BASEPLATE_BACKUP_TARGET, else `backups` in the data dir).",
} as const;

/** backupCommands: take, list, verify and restore the plane's backups on this machine. */
export const backupCommands = [
  defineCommand({
    name: "backup create",
    section: "local",
    summary: "Back the plane up now: a consistent snapshot, its files and a manifest.",
    description:
      "Safe while the server runs and writes. The master key is never in a backup: keep it apart.\n" +
      "PostgreSQL planes need pg_dump (package postgresql-client).",
    flags: {
      to: TARGET_FLAG,
      keep: {
        type: "string",
        value: "N",
        description: "Then delete the oldest backups beyond the newest N (default BASEPLATE_BACKUP_KEEP).",
        parse: parse.positiveInt(100_000),
      },
    },
    json: true,
    examples: [
      "baseplate backup create --to /var/backups/baseplate --keep 14",
      "baseplate backup create --to s3://my-bucket/baseplate",
    ],
    run: create,
  }),
  defineCommand({
    name: "backup list",
    section: "local",
    summary: "List the backups in a target, newest first.",
    flags: { target: TARGET_FLAG },
    json: true,
    run: list,
  }),
  defineCommand({
    name: "backup verify",
    section: "local",
    summary: "Check every file of a backup against its manifest (size and SHA-256), restoring nothing.",
    description: "Exit 0: intact; 1: damaged, incomplete or missing.",
    args: [{ name: "backup", description: "A backup's location (…/backup-…), or its id in --target." }],
    flags: { target: TARGET_FLAG },
    json: true,
    run: verify,
  }),
  defineCommand({
    name: "backup restore",
    section: "local",
    summary: "Restore a backup into a new data dir (never over a live one) and check it.",
    description:
      "Refuses a data dir that is not empty, a backup of a newer build, a damaged backup. Then verifies\n" +
      "every audit chain of the restored plane and prints how to start it. PostgreSQL backups need\n" +
      "--database-url (an empty schema) and pg_restore (package postgresql-client).",
    flags: {
      from: { type: "string", value: "BACKUP", required: true, description: "The backup's location (…/backup-…)." },
      into: {
        type: "string",
        value: "DIR",
        required: true,
        description: "The new data dir (must not exist, or be empty).",
      },
      "database-url": {
        type: "string",
        value: "URL",
        description: "PostgreSQL backups: the database to restore into (postgres://…).",
      },
      schema: {
        type: "string",
        value: "NAME",
        description: "PostgreSQL backups: the schema (default: the backed-up plane's; must hold nothing).",
      },
    },
    json: true,
    examples: [
      "baseplate backup restore --from /var/backups/baseplate/backup-20261207T030000000Z-1a2b3c --into ./restored",
    ],
    run: restore,
  }),
];
