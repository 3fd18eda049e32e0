#!/usr/bin/env node
// The `baseplate` command. It is committed (unlike dist/), so `npm install` links it in
// node_modules/.bin even before the first build; it compiles what changed (scripts/build-if-stale.mjs,
// in a repository checkout) and then runs the compiled CLI, dist/main.js.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const buildIfStale = fileURLToPath(new URL("../../../scripts/build-if-stale.mjs", import.meta.url));
if (existsSync(buildIfStale)) {
  const build = spawnSync(process.execPath, [buildIfStale], { stdio: ["ignore", 2, 2] });
  if (build.status !== 0) {
    process.stderr.write("baseplate: the build failed (see above).\n");
    process.exit(build.status ?? 1);
  }
}
await import("../dist/main.js");
