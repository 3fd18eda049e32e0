import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync, realpathSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { printInit } from "../src/cli/init.js";

const root = fileURLToPath(new URL("../../../", import.meta.url));

// The command a person is told to run must be the one in this repository, never the unrelated
// package named `baseplate` on the npm registry: `npx --no-install baseplate …` (npx refuses to
// fetch anything) or `npm run baseplate -- …` from the root.
describe("the baseplate command works as printed", () => {
  it("npm install links the committed bin wrapper, which builds if stale and runs the CLI", () => {
    const bin = realpathSync(join(root, "node_modules", ".bin", "baseplate"));
    expect(bin).toBe(join(root, "packages", "server", "bin", "baseplate.mjs"));
    const run = spawnSync("npx", ["--no-install", "baseplate", "--version"], { cwd: root, encoding: "utf8" });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  }, 240_000);

  it("init's Next line names the command as it can be run from the repository", () => {
    const lines: string[] = [];
    printInit(
      { operator: { id: "opr_1", email: "a@example.com", token: "bp_ot_x" }, project: null },
      { out: (l) => lines.push(l), err: (l) => lines.push(l), env: {}, onSignal: () => undefined },
      "http://127.0.0.1:8080",
    );
    const next = lines.find((l) => l.startsWith("Next:")) ?? "";
    expect(next).toContain("`npx --no-install baseplate start`");
  });

  it("no document tells anyone to run a bare `npx baseplate`", () => {
    const docs = [join(root, "README.md"), ...readdirSync(join(root, "docs")).map((f) => join(root, "docs", f))];
    for (const file of docs.filter((f) => f.endsWith(".md"))) {
      expect(readFileSync(file, "utf8"), file).not.toMatch(/npx (?:--no )?baseplate/);
    }
  });
});
