import { spawn } from "node:child_process";
import { access, constants } from "node:fs/promises";
import { delimiter, join } from "node:path";

/** PgToolMissing: `pg_dump` or `pg_restore` is not on PATH. */
export class PgToolMissing extends Error {
  constructor(readonly tool: string) {
    super(
      `${tool} is not installed (or not on PATH). PostgreSQL backups drive ${tool}: install the PostgreSQL client tools ` +
        "(Debian/Ubuntu: `apt-get install postgresql-client`; Alpine: `apk add postgresql-client`; macOS: `brew install libpq`) " +
        "of the server's major version or newer.",
    );
    this.name = "PgToolMissing";
  }
}

/** findTool returns the path of `name` on PATH, or null. */
export async function findTool(name: string, path = process.env.PATH ?? ""): Promise<string | null> {
  for (const dir of path.split(delimiter).filter(Boolean)) {
    const candidate = join(dir, name);
    if (
      await access(candidate, constants.X_OK).then(
        () => true,
        () => false,
      )
    )
      return candidate;
  }
  return null;
}

/**
 * pgEnv turns a connection URL into libpq's environment (PGHOST, PGPASSWORD…), so the password
 * never appears on a command line (where `ps` shows it).
 */
export function pgEnv(url: string): NodeJS.ProcessEnv {
  const u = new URL(url);
  const env: NodeJS.ProcessEnv = {};
  if (u.hostname) env.PGHOST = decodeURIComponent(u.hostname.replace(/^\[|\]$/g, ""));
  if (u.port) env.PGPORT = u.port;
  if (u.username) env.PGUSER = decodeURIComponent(u.username);
  if (u.password) env.PGPASSWORD = decodeURIComponent(u.password);
  const database = decodeURIComponent(u.pathname.replace(/^\//, ""));
  if (database) env.PGDATABASE = database;
  const sslmode = u.searchParams.get("sslmode");
  if (sslmode) env.PGSSLMODE = sslmode;
  return env;
}

/** runPgTool runs `tool args…` with the connection in its environment; throws with its stderr on failure. */
export async function runPgTool(tool: "pg_dump" | "pg_restore", args: string[], url: string): Promise<void> {
  const path = await findTool(tool);
  if (!path) throw new PgToolMissing(tool);
  await new Promise<void>((resolve, reject) => {
    const child = spawn(path, args, {
      env: { ...process.env, ...pgEnv(url) },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => {
      if (stderr.length < 8000) stderr += d.toString("utf8");
    });
    child.on("error", reject);
    child.on("close", (code) => {
      if (code === 0) resolve();
      else reject(new Error(`${tool} failed (exit ${code}): ${stderr.trim() || "no message"}`));
    });
  });
}
