import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The architecture rule of DESIGN.md §2, enforced rather than hoped for:
 * 1. `platform/` never imports `modules/` (or the composition root that lists them);
 * 2. a module imports another module only through that module's `index.ts`.
 * Tests (`*.test.ts`) may compose a whole app and are not checked.
 * Run by `npm run lint`; exits 1 listing every violation.
 */

export interface Violation {
  file: string;
  specifier: string;
  rule: string;
}

const IMPORT =
  /(?:import|export)\s[^'"]*?from\s*["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)|import\s*["']([^"']+)["']/g;

/** checkBoundaries scans the TypeScript files under `srcDir` and returns every violation. */
export function checkBoundaries(srcDir: string): Violation[] {
  const violations: Violation[] = [];
  for (const file of walk(srcDir)) {
    const rel = relative(srcDir, file).split(sep).join("/");
    const source = readFileSync(file, "utf8");
    for (const match of source.matchAll(IMPORT)) {
      const specifier = match[1] ?? match[2] ?? match[3];
      if (!specifier?.startsWith(".")) continue;
      const target = relative(srcDir, resolve(dirname(file), specifier))
        .split(sep)
        .join("/")
        .replace(/\.js$/, "");
      if (rel.startsWith("platform/")) {
        if (target.startsWith("modules/") || target === "app") {
          violations.push({ file: rel, specifier, rule: "platform/ must never import modules/ or app.ts" });
        }
        continue;
      }
      const own = /^modules\/([^/]+)\//.exec(rel)?.[1];
      const other = /^modules\/([^/]+)(\/.*)?$/.exec(target);
      if (own && other && other[1] !== own && other[2] !== "/index") {
        violations.push({
          file: rel,
          specifier,
          rule: `modules import other modules only through their index.ts (use modules/${other[1]}/index.js)`,
        });
      }
      if (own && target === "app") {
        violations.push({ file: rel, specifier, rule: "modules must not import the composition root (app.ts)" });
      }
    }
  }
  return violations;
}

function* walk(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* walk(path);
    else if (name.endsWith(".ts") && !name.endsWith(".test.ts")) yield path;
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const src = resolve(dirname(fileURLToPath(import.meta.url)), "../packages/server/src");
  const violations = checkBoundaries(src);
  for (const v of violations) process.stderr.write(`${v.file}: imports "${v.specifier}": ${v.rule}\n`);
  if (violations.length > 0) {
    process.stderr.write(`\n${violations.length} architecture violation(s).\n`);
    process.exit(1);
  }
  process.stdout.write("Architecture boundaries: ok\n");
}
