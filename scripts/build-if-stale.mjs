// build-if-stale compiles the workspace packages the server runs (@baseplate/sdk, the operator
// console @baseplate/console, which bundles the SDK, then the server)
// only when their sources changed since their last build, so `npm start` and the `baseplate`
// command begin at once when nothing changed. Each package's fingerprint (every compiled file's
// path, size and modification time, and the compiler settings) is kept in its
// dist/.source-fingerprint; any difference (an edit, a new or deleted file, a checkout) runs its
// build again. Messages go to stderr, so a command's stdout stays its own.
// `--only <name>[,<name>…]` checks those packages (`npm install` builds the SDK and the console).
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(fileURLToPath(import.meta.url), "..", "..");
const tsc = join(root, "node_modules", "typescript", "bin", "tsc");
const vite = join(root, "node_modules", "vite", "bin", "vite.js");

const PACKAGES = [
  {
    name: "@baseplate/sdk",
    dir: join(root, "packages", "sdk"),
    entry: "dist/index.js",
    // The SDK's types are generated from openapi.json (src/generated is its output, not an input).
    inputs: (dir) => [
      join(root, "openapi.json"),
      join(dir, "scripts", "generate.mjs"),
      ...files(join(dir, "src"), (path) => !path.includes(`${join("src", "generated")}`)),
    ],
    steps: [[join("scripts", "generate.mjs")], [tsc, "-p", "tsconfig.build.json"]],
  },
  {
    name: "@baseplate/console",
    dir: join(root, "packages", "console"),
    entry: "dist/index.html",
    config: ["vite.config.ts", "index.html", "portal.html"],
    // The console bundles the SDK: a rebuilt SDK (its fingerprint file rewritten) rebuilds it too.
    inputs: (dir) => [
      join(root, "packages", "sdk", "dist", ".source-fingerprint"),
      ...files(join(dir, "src"), () => true, [".ts", ".tsx", ".css"]),
      ...files(join(dir, "public"), () => true, [""]),
    ],
    steps: [[vite, "build", "--logLevel", "warn"]],
  },
  {
    name: "@baseplate/server",
    dir: join(root, "packages", "server"),
    entry: "dist/main.js",
    inputs: (dir) => files(join(dir, "src")),
    steps: [[tsc, "-p", "tsconfig.build.json"]],
  },
];

function* files(dir, keep = () => true, extensions = [".ts"]) {
  if (!existsSync(dir)) return;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* files(path, keep, extensions);
    else if (extensions.some((e) => entry.name.endsWith(e)) && !entry.name.endsWith(".test.ts") && keep(path))
      yield path;
  }
}

function fingerprint(pkg) {
  const hash = createHash("sha256");
  const inputs = [
    join(root, "tsconfig.base.json"),
    ...(pkg.config ?? ["tsconfig.build.json"]).map((name) => join(pkg.dir, name)),
    join(pkg.dir, "package.json"),
    ...pkg.inputs(pkg.dir),
  ];
  for (const path of inputs.sort()) {
    const s = statSync(path);
    hash.update(`${relative(root, path)}\0${s.size}\0${s.mtimeMs}\n`);
  }
  return hash.digest("hex");
}

const only = process.argv.includes("--only") ? process.argv[process.argv.indexOf("--only") + 1]?.split(",") : undefined;

for (const pkg of PACKAGES.filter((p) => only === undefined || only.includes(p.name))) {
  const stampFile = join(pkg.dir, "dist", ".source-fingerprint");
  const current = fingerprint(pkg);
  const built = existsSync(join(pkg.dir, pkg.entry)) && existsSync(stampFile) ? readFileSync(stampFile, "utf8") : "";
  if (built.trim() === current) continue;
  process.stderr.write(`Compiling ${pkg.name} (sources changed since the last build)…\n`);
  for (const step of pkg.steps) {
    // tsc reports errors on stdout: send them to stderr with the rest of this script's messages.
    const run = spawnSync(process.execPath, step, { cwd: pkg.dir, stdio: ["ignore", 2, 2] });
    if (run.status !== 0) process.exit(run.status ?? 1);
  }
  mkdirSync(join(pkg.dir, "dist"), { recursive: true });
  writeFileSync(stampFile, `${current}\n`);
}
