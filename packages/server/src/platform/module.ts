import type { ZodType } from "zod";
import type { Config } from "../config.js";
import type { Authorizer } from "./access.js";
import type { Clock } from "./clock.js";
import type { ChangeBus } from "./db/bus.js";
import type { Db } from "./db/db.js";
import type { ModuleMigration } from "./db/migrator.js";
import type { FactRecorder, FactSink } from "./facts/index.js";
import type { CredentialResolver } from "./http/credentials.js";
import type { RouteDefinition } from "./http/route.js";
import type { JobDefinition, JobQueue } from "./jobs/queue.js";
import type { Logger } from "./logger.js";

/** ModuleContext is everything the platform gives a module's service. */
export interface ModuleContext {
  config: Config;
  db: Db;
  clock: Clock;
  logger: Logger;
  facts: FactRecorder;
  jobs: JobQueue;
  bus: ChangeBus;
  /** access is the one permission check (`require(ctx, permission, { tenantId })`) every module uses. */
  access: Authorizer;
  /** use returns the service of a module this module declared in `dependsOn`; throws otherwise. */
  use<S>(moduleName: string): S;
}

/** FactDeclaration describes one fact type a module records (listed in the event catalog). */
export interface FactDeclaration {
  description: string;
  /** data is the schema of the fact's `data` (rendered as JSON Schema in the event catalog). */
  data?: ZodType;
}

/**
 * ModuleDefinition is a module as the composition root sees it (DESIGN.md §2). Everything but the
 * name is declared data; `app.ts` wires it in dependency order.
 */
export interface ModuleDefinition<S = unknown> {
  name: string;
  dependsOn: readonly string[];
  migrations: readonly ModuleMigration[];
  createService(ctx: ModuleContext): S;
  /** facts declares every fact type the module records (`noun.past_verb` → description and data schema). */
  facts?: Readonly<Record<string, FactDeclaration>>;
  routes?(service: S): RouteDefinition[];
  jobs?(service: S): JobDefinition[];
  /** schedules runs jobs of this module on cron expressions (UTC), e.g. `{ "audit.checkpoint": "0 * * * *" }`. */
  schedules?: Readonly<Record<string, string>>;
  credentialResolvers?(service: S): CredentialResolver[];
  factSinks?(service: S): Array<{ name: string; sink: FactSink }>;
  /** originPolicy allows browser origins beyond BASEPLATE_CORS_ORIGINS (e.g. surfaces' allowed origins). */
  originPolicy?(service: S): (origin: string) => Promise<boolean>;
  /** start runs when the app starts (after migrations), e.g. to open a listener. */
  start?(service: S): Promise<void>;
  /** stop runs on shutdown, after requests and jobs have drained (flush buffers here). */
  stop?(service: S): Promise<void>;
}

/** defineModule returns its argument, typed. */
export function defineModule<S>(definition: ModuleDefinition<S>): ModuleDefinition<S> {
  return definition;
}

/**
 * orderModules sorts modules so every module comes after its dependencies (a stable topological
 * order). Throws on a duplicate name, a missing dependency or a cycle, naming the modules involved.
 */
export function orderModules(modules: readonly ModuleDefinition<unknown>[]): ModuleDefinition<unknown>[] {
  const byName = new Map<string, ModuleDefinition<unknown>>();
  for (const m of modules) {
    if (!/^[a-z][a-z0-9]*$/.test(m.name)) throw new Error(`Module name "${m.name}" must be lower-case letters/digits`);
    if (byName.has(m.name)) throw new Error(`Module "${m.name}" is registered twice`);
    byName.set(m.name, m);
  }
  const ordered: ModuleDefinition<unknown>[] = [];
  const state = new Map<string, "visiting" | "done">();
  const visit = (m: ModuleDefinition<unknown>, path: string[]) => {
    const s = state.get(m.name);
    if (s === "done") return;
    if (s === "visiting") throw new Error(`Module dependency cycle: ${[...path, m.name].join(" → ")}`);
    state.set(m.name, "visiting");
    for (const dep of m.dependsOn) {
      const target = byName.get(dep);
      if (!target) throw new Error(`Module "${m.name}" depends on "${dep}", which is not registered`);
      visit(target, [...path, m.name]);
    }
    state.set(m.name, "done");
    ordered.push(m);
  };
  for (const m of modules) visit(m, []);
  return ordered;
}
