// build-if-stale compiles the server only when its sources changed since the last build, so
// `npm start` with nothing changed begins serving at once. The sources' fingerprint (every
// compiled file's path, size and modification time, and the compiler settings) is kept in
// packages/server/dist/.source-fingerprint; any difference (an edit, a new or deleted file, a
// checkout) runs `tsc` (incremental) again.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(fileURLToPath(import.meta.url), "..", "..");
const server = join(root, "packages", "server");
const stampFile = join(server, "dist", ".source-fingerprint");

function* files(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* files(path);
    else if (entry.name.endsWith(".ts") && !entry.name.endsWith(".test.ts")) yield path;
  }
}

function fingerprint() {
  const hash = createHash("sha256");
  const inputs = [
    join(root, "tsconfig.base.json"),
    join(server, "tsconfig.build.json"),
    join(server, "package.json"),
    ...files(join(server, "src")),
  ];
  for (const path of inputs.sort()) {
    const s = statSync(path);
    hash.update(`${relative(root, path)}\0${s.size}\0${s.mtimeMs}\n`);
  }
  return hash.digest("hex");
}

const current = fingerprint();
const built =
  existsSync(join(server, "dist", "main.js")) && existsSync(stampFile) ? readFileSync(stampFile, "utf8") : "";
if (built.trim() === current) process.exit(0);

process.stderr.write("Compiling the server (sources changed since the last build)…\n");
const tsc = spawnSync(
  process.execPath,
  [join(root, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.build.json"],
  {
    cwd: server,
    stdio: "inherit",
  },
);
if (tsc.status !== 0) process.exit(tsc.status ?? 1);
writeFileSync(stampFile, `${current}\n`);
