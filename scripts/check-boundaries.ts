import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The architecture rule of DESIGN.md §2, enforced rather than hoped for:
 * 1. `platform/` never imports `modules/` (or the composition root that lists them);
 * 2. everything outside a module (other modules, `cli/`, `testing/`, `app.ts`, and the extra roots:
 *    `packages/server/test/`, `bench/`) imports a module only through its `index.ts`;
 * 3. a module imports another module (`import type` included) only if its `module.ts` names that
 *    module in `dependsOn` (read from the source: `dependsOn: { tenancy: tenancyModule }`).
 * Tests (`*.test.ts`) under `srcDir` may compose a whole app and are not checked; files under the
 * extra roots are, tests included. Run by `npm run lint`; exits 1 listing every violation.
 */

export interface Violation {
  file: string;
  specifier: string;
  rule: string;
}

const IMPORT =
  /(?:import|export)\s[^'"]*?from\s*["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)|import\s*["']([^"']+)["']/g;

/**
 * checkBoundaries scans the TypeScript files under `srcDir` (the server's `src/`) and under
 * `extraRoots` (folders outside it whose imports of `srcDir` are checked with rule 2), and returns
 * every violation, one per import. Paths in violations are relative to `srcDir` (to its
 * root's parent for a file under an extra root: `bench/…`).
 */
export function checkBoundaries(srcDir: string, extraRoots: readonly string[] = []): Violation[] {
  const violations: Violation[] = [];
  const dependsOn = new Map<string, ReadonlySet<string>>();
  const declared = (module: string) => {
    let names = dependsOn.get(module);
    if (!names) {
      names = declaredDependencies(join(srcDir, "modules", module, "module.ts"));
      dependsOn.set(module, names);
    }
    return names;
  };
  const files = [
    ...[...walk(srcDir, false)].map((file) => ({ file, shown: relative(srcDir, file) })),
    ...extraRoots.flatMap((root) =>
      [...walk(root, true)].map((file) => ({ file, shown: relative(dirname(root), file) })),
    ),
  ];
  for (const { file, shown } of files) {
    const rel = relative(srcDir, file).split(sep).join("/");
    const where = shown.split(sep).join("/");
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
          violations.push({ file: where, specifier, rule: "platform/ must never import modules/ or app.ts" });
        }
        continue;
      }
      const own = /^modules\/([^/]+)\//.exec(rel)?.[1];
      const other = /^modules\/([^/]+)(\/.*)?$/.exec(target);
      if (other && other[1] !== own && other[2] !== "/index") {
        violations.push({
          file: where,
          specifier,
          rule: `${own ? "modules import other modules" : "code outside a module imports it"} only through its index.ts (use modules/${other[1]}/index.js)`,
        });
      } else if (own && other?.[1] && other[1] !== own && !declared(own).has(other[1])) {
        violations.push({
          file: where,
          specifier,
          rule: `module "${own}" imports module "${other[1]}" without declaring it in dependsOn (modules/${own}/module.ts)`,
        });
      }
      if (own && target === "app") {
        violations.push({ file: where, specifier, rule: "modules must not import the composition root (app.ts)" });
      }
    }
  }
  return violations;
}

const DEPENDS_ON = /dependsOn\s*:\s*\{([^}]*)\}/;

/**
 * declaredDependencies reads the module names a `module.ts` declares in `dependsOn` (its keys, which
 * `orderModules` requires to be the modules' names). A module without `module.ts` or `dependsOn`
 * declares none.
 */
function declaredDependencies(moduleFile: string): ReadonlySet<string> {
  if (!existsSync(moduleFile)) return new Set();
  const body = DEPENDS_ON.exec(readFileSync(moduleFile, "utf8"))?.[1] ?? "";
  const names = body
    .split(",")
    .map((entry) => (entry.split(":")[0] ?? "").trim())
    .filter((key) => /^[a-z][a-z0-9]*$/.test(key));
  return new Set(names);
}

function* walk(dir: string, withTests: boolean): Generator<string> {
  for (const name of readdirSync(dir)) {
    if (name === "node_modules") continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* walk(path, withTests);
    else if (name.endsWith(".ts") && !name.endsWith(".d.ts") && (withTests || !name.endsWith(".test.ts"))) yield path;
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
  const violations = checkBoundaries(join(root, "packages/server/src"), [
    join(root, "packages/server/test"),
    join(root, "bench"),
  ]);
  for (const v of violations) process.stderr.write(`${v.file}: imports "${v.specifier}": ${v.rule}\n`);
  if (violations.length > 0) {
    process.stderr.write(`\n${violations.length} architecture violation(s).\n`);
    process.exit(1);
  }
  process.stdout.write("Architecture boundaries: ok\n");
}
