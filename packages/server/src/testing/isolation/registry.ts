import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { App } from "../../app.js";
import type { RouteDefinition } from "../../platform/http/route.js";
import type { AnyModule } from "../../platform/module.js";
import { createTestApp } from "../harness.js";
import type { FactCase, IsolationRegistry, ModuleFixtures } from "../module-fixtures.js";
import { planeModules, routeKey } from "./route-table.js";

/**
 * The fixture registry: finds each module's `fixtures.ts` by folder convention and merges them.
 * A module named `x` keeps its fixtures in `src/modules/x/fixtures.ts`, or, for a test-only module
 * (the probe), in `src/testing/x/fixtures.ts`; the file exports `fixtures` (a `ModuleFixtures`
 * whose `module` is `x`). No central list names them: a module registered in the app brings its
 * fixtures along, and a module without the file brings none (the plan then reports its routes).
 */

/** FIXTURE_ROOTS are the folders, relative to `src/`, whose `<module name>/` may hold a fixtures file. */
const FIXTURE_ROOTS = ["modules", "testing"] as const;

const SRC = fileURLToPath(new URL("../../", import.meta.url));

/** PlaneFixtures: the merged fixtures of a plane's modules, for the isolation runner and the facts sweep. */
export interface PlaneFixtures {
  isolation: IsolationRegistry;
  facts: Record<string, FactCase>;
  factExclusions: Record<string, string>;
}

/**
 * fixtureFileOf returns the path of module `name`'s fixtures file, or null when it has none.
 * Throws when more than one folder holds one (the module would be ambiguous).
 */
export function fixtureFileOf(name: string): string | null {
  const found = FIXTURE_ROOTS.flatMap((root) => {
    const file = ["fixtures.ts", "fixtures.js"].map((f) => join(SRC, root, name, f)).find((f) => existsSync(f));
    return file ? [file] : [];
  });
  if (found.length > 1) throw new Error(`Module "${name}" has more than one fixtures file: ${found.join(", ")}`);
  return found[0] ?? null;
}

/**
 * loadModuleFixtures imports the fixtures file of each module that has one, in module order.
 * Throws when a file does not export `fixtures`, or exports the fixtures of another module.
 */
export async function loadModuleFixtures(modules: readonly AnyModule[]): Promise<ModuleFixtures[]> {
  const out: ModuleFixtures[] = [];
  for (const module of modules) {
    const file = fixtureFileOf(module.name);
    if (!file) continue;
    const loaded = (await import(/* @vite-ignore */ pathToFileURL(file).href)) as { fixtures?: ModuleFixtures };
    if (!loaded.fixtures) throw new Error(`${file} must export \`fixtures\` (defineModuleFixtures)`);
    if (loaded.fixtures.module !== module.name) {
      throw new Error(`${file} holds the fixtures of "${loaded.fixtures.module}", not of module "${module.name}"`);
    }
    out.push(loaded.fixtures);
  }
  return out;
}

/**
 * mergeModuleFixtures merges modules' fixtures into one registry. Throws when two modules claim the
 * same parameter or route key, or when a module's route-keyed fixture names a route that `owners`
 * (route key → module name) gives to another module. A key no module owns is left to the suites'
 * stale-fixture checks.
 */
export function mergeModuleFixtures(
  list: readonly ModuleFixtures[],
  owners: ReadonlyMap<string, string> = new Map(),
): PlaneFixtures {
  // One claim table per parameter kind; route keys share one across tables, so one module may
  // give a route a body and a support exception, but no two modules may both speak for it.
  const paramClaims = new Map<string, string>();
  const operatorClaims = new Map<string, string>();
  const routeClaims = new Map<string, string>();
  const param = <T>(claims: Map<string, string>, table: string, pick: PickTable<T>) =>
    mergeTable(list, pick, claims, (key) => `${table} :${key}`, null);
  const route = <T>(pick: PickTable<T>) => mergeTable(list, pick, routeClaims, (key) => `route ${key}`, owners);
  const isolation: IsolationRegistry = {
    params: param(paramClaims, "params", (f) => f.params),
    operatorParams: param(operatorClaims, "operatorParams", (f) => f.operatorParams),
    bodies: route((f) => f.bodies),
    excluded: route((f) => f.excluded),
    streams: route((f) => f.streams),
    supportExceptions: route((f) => f.supportExceptions),
  };
  const facts = route((f) => f.facts);
  const factExclusions = route((f) => f.factExclusions);
  for (const key of Object.keys(factExclusions)) {
    if (facts[key]) throw new Error(`${key} has both a fact case and a fact exclusion: keep one`);
  }
  return { isolation, facts, factExclusions };
}

type PickTable<T> = (f: ModuleFixtures) => Record<string, T> | undefined;

function mergeTable<T>(
  list: readonly ModuleFixtures[],
  pick: PickTable<T>,
  claims: Map<string, string>,
  label: (key: string) => string,
  owners: ReadonlyMap<string, string> | null,
): Record<string, T> {
  const out: Record<string, T> = {};
  for (const f of list) {
    for (const [key, value] of Object.entries(pick(f) ?? {})) {
      const previous = claims.get(key);
      if (previous !== undefined && previous !== f.module) {
        throw new Error(`Modules "${previous}" and "${f.module}" both claim ${label(key)}`);
      }
      const owner = owners?.get(key);
      if (owner !== undefined && owner !== f.module) {
        throw new Error(`Module "${f.module}" has fixtures for ${label(key)}, which module "${owner}" registers`);
      }
      claims.set(key, f.module);
      out[key] = value;
    }
  }
  return out;
}

/** routeOwners maps every route key of `app` to the name of the module that registers it. */
export function routeOwners(app: App): Map<string, string> {
  const owners = new Map<string, string>();
  for (const module of app.modules) {
    for (const route of module.routes?.(app.service(module)) ?? []) owners.set(routeKey(route), module.name);
  }
  return owners;
}

/** fixturesOfApp loads and merges the fixtures of `app`'s modules, checking route ownership. */
export async function fixturesOfApp(app: App): Promise<PlaneFixtures> {
  return mergeModuleFixtures(await loadModuleFixtures(app.modules), routeOwners(app));
}

/**
 * loadPlaneFixtures builds the isolation plane (see `loadRouteTable`) on a throwaway SQLite
 * database, without migrating, and returns its route table with its modules' merged fixtures.
 * Test files call it at the top level, to declare one test per route.
 */
export async function loadPlaneFixtures(
  extraModules: AnyModule[] = [],
): Promise<PlaneFixtures & { routes: RouteDefinition[] }> {
  const t = await createTestApp("sqlite", { modules: planeModules(extraModules), migrate: false });
  try {
    return { routes: [...t.app.http.routes], ...(await fixturesOfApp(t.app)) };
  } finally {
    await t.close();
  }
}
