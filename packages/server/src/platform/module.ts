import type { ZodType } from "zod";
import type { Config } from "../config.js";
import type { AccessHooks, Authorizer } from "./access.js";
import type { Clock } from "./clock.js";
import type { BusHandler, ChangeBus } from "./db/bus.js";
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
  /**
   * access is the one permission check every module uses: `operator(ctx, permission)`,
   * `environment(ctx, permission)` or `require(ctx, permission, { tenantId })`.
   */
  access: Authorizer;
}

/** FactDeclaration describes one fact type a module records (listed in the event catalog). */
export interface FactDeclaration {
  description: string;
  /** data is the schema of the fact's `data` (rendered as JSON Schema in the event catalog). */
  data?: ZodType;
}

/**
 * ModuleDeps names the modules a module builds on, by their module name: `{ tenancy: tenancyModule }`.
 * Each key must be the module's own `name`; the composition root hands the module their services.
 */
// biome-ignore lint/suspicious/noExplicitAny: a dependency may be any module; its service type is read by ServiceOf.
export type ModuleDeps = { readonly [name: string]: ModuleDefinition<unknown, any> };

/** ServiceOf is the service type a module definition creates. */
export type ServiceOf<M> = M extends ModuleDefinition<infer S, infer _D> ? S : never;

/** Services maps declared dependencies to their typed services: what `createService` receives. */
export type Services<D extends ModuleDeps> = { readonly [K in keyof D]: ServiceOf<D[K]> };

/** BusSubscription is a ChangeBus topic a module listens to (in every process). */
export interface BusSubscription {
  topic: string;
  handler: BusHandler;
}

/**
 * ModuleDefinition is a module as the composition root sees it (DESIGN.md §2). Everything but the
 * name is declared data; `app.ts` wires it in dependency order. Every subscription a module makes
 * (fact sinks, bus topics, access hooks, another module's extension point) is declared here, so
 * `module.ts` shows everything the module listens to.
 */
// biome-ignore lint/complexity/noBannedTypes: `{}` is "no dependencies", the default.
export interface ModuleDefinition<S = unknown, D extends ModuleDeps = {}> {
  name: string;
  /** dependsOn declares the modules this one builds on (their services reach `createService`). */
  dependsOn?: D;
  migrations: readonly ModuleMigration[];
  createService(ctx: ModuleContext, deps: Services<D>): S;
  /** facts declares every fact type the module records (`noun.past_verb` → description and data schema). */
  facts?: Readonly<Record<string, FactDeclaration>>;
  routes?(service: S): RouteDefinition[];
  jobs?(service: S): JobDefinition[];
  /** schedules runs jobs of this module on cron expressions (UTC), e.g. `{ "audit.checkpoint": "0 * * * *" }`. */
  schedules?: Readonly<Record<string, string>>;
  credentialResolvers?(service: S): CredentialResolver[];
  /** factSinks run inside every writer's transaction (a sink that throws aborts the write). */
  factSinks?(service: S): Array<{ name: string; sink: FactSink }>;
  /** busSubscriptions listen to ChangeBus topics, in every process (cache evictions, wake-ups). */
  busSubscriptions?(service: S): BusSubscription[];
  /** accessHooks plug lookups into the platform's permission check (tenant state, memberships). */
  accessHooks?(service: S): Partial<AccessHooks>;
  /**
   * connect subscribes to extension points of the modules in `dependsOn` (e.g. the event log's
   * appends). It runs once, after `createService`, and is the only place a module does so.
   */
  connect?(service: S, deps: Services<D>): void;
  /** originPolicy allows browser origins beyond BASEPLATE_CORS_ORIGINS (e.g. surfaces' allowed origins). */
  originPolicy?(service: S): (origin: string) => Promise<boolean>;
  /** start runs when the app starts (after migrations), e.g. to open a listener. */
  start?(service: S): Promise<void>;
  /** stop runs on shutdown, after requests and jobs have drained (flush buffers here). */
  stop?(service: S): Promise<void>;
}

/** AnyModule is a module of any service and dependencies: what lists of modules hold. */
// biome-ignore lint/suspicious/noExplicitAny: lists hold modules of every service and dependency type.
export type AnyModule = ModuleDefinition<any, any>;

/** defineModule returns its argument, typed (the service type is inferred from `createService`). */
// biome-ignore lint/complexity/noBannedTypes: `{}` is "no dependencies", the default.
export function defineModule<S, D extends ModuleDeps = {}>(definition: ModuleDefinition<S, D>): ModuleDefinition<S, D> {
  return definition;
}

/** dependencyNames lists the names of the modules `module` declared in `dependsOn`. */
export function dependencyNames(module: AnyModule): string[] {
  return Object.keys(module.dependsOn ?? {});
}

/**
 * orderModules sorts modules so every module comes after its dependencies (a stable topological
 * order). Throws on a duplicate name, a dependency key that is not the module's name, a missing
 * dependency or a cycle, naming the modules involved.
 */
export function orderModules<M extends AnyModule>(modules: readonly M[]): M[] {
  const byName = new Map<string, M>();
  for (const m of modules) {
    if (!/^[a-z][a-z0-9]*$/.test(m.name)) throw new Error(`Module name "${m.name}" must be lower-case letters/digits`);
    if (byName.has(m.name)) throw new Error(`Module "${m.name}" is registered twice`);
    byName.set(m.name, m);
  }
  const ordered: M[] = [];
  const state = new Map<string, "visiting" | "done">();
  const visit = (m: M, path: string[]) => {
    const s = state.get(m.name);
    if (s === "done") return;
    if (s === "visiting") throw new Error(`Module dependency cycle: ${[...path, m.name].join(" → ")}`);
    state.set(m.name, "visiting");
    for (const [key, declared] of Object.entries<AnyModule>(m.dependsOn ?? {})) {
      if (declared.name !== key) {
        throw new Error(`Module "${m.name}" declares dependency "${key}" as module "${declared.name}": use its name`);
      }
      const target = byName.get(key);
      if (!target) throw new Error(`Module "${m.name}" depends on "${key}", which is not registered`);
      visit(target, [...path, m.name]);
    }
    state.set(m.name, "done");
    ordered.push(m);
  };
  for (const m of modules) visit(m, []);
  return ordered;
}
