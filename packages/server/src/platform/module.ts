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
import type { IdPrefixes } from "./ids.js";
import type { JobDefinition, JobQueue } from "./jobs/queue.js";
import type { Logger } from "./logger.js";
import type { AnySection, ManifestRegistry } from "./manifest.js";
import type { PersonalDataProvider, PersonalDataRegistry } from "./personal-data.js";
import type { RateLimitOverrides } from "./ratelimit/limiter.js";
import type { ReviewContributor, ReviewRegistry } from "./review.js";
import type { SealedColumn, SecretVault } from "./secrets-vault.js";

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
  /**
   * personalData runs data subject requests across modules: every module that stores personal
   * data registers a provider (`personalData` below); the identity module runs export and erasure.
   */
  personalData: PersonalDataRegistry;
  /**
   * manifest holds every module's manifest sections (`manifest` below); the manifest module
   * exports, plans and applies them.
   */
  manifest: ManifestRegistry;
  /** review holds every module's parts of the review report (`review` below); the review module renders them. */
  review: ReviewRegistry;
  /** secrets seals what the plane must read back (signing secrets, header values) under the master key. */
  secrets: SecretVault;
  /**
   * permissions lists every registered module's declared `permissions` and `roleGrants`, in
   * dependency order (collected by `collectPermissions`); the access module builds roles from them.
   */
  permissions: readonly DeclaredPermissions[];
}

/** PermissionStatements declares resources and their actions: `{ invoices: ["read", "create"] }`. */
export type PermissionStatements = Readonly<Record<string, readonly string[]>>;

/** RoleGrant gives a role actions on resources: `{ invoices: ["read"], reports: "*" }`. */
export type RoleGrant = Readonly<Record<string, readonly string[] | "*">>;

/** DeclaredPermissions is one module's statements and the grants it adds to built-in roles. */
export interface DeclaredPermissions {
  module: string;
  statements: PermissionStatements;
  roleGrants: Readonly<Record<string, RoleGrant>>;
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
  /**
   * ids declares the ID kinds this module mints and their prefixes (`{ tenant: "ten" }`), usually
   * `defineIds(…).prefixes` from its `ids.ts`. The composition root registers them in the plane's
   * `IdRegistry` and refuses to start when another module (or the platform) claims a kind or prefix.
   */
  ids?: IdPrefixes;
  /**
   * permissions declares the resources this module guards and their actions (CONVENTIONS.md §10):
   * `{ webhooks: ["read", "write"] }`. A resource belongs to one module; the permission string is
   * `resource:action`.
   */
  permissions?: PermissionStatements;
  /**
   * roleGrants adds this module's resources to built-in roles, by role key (`admin`, `member`; the
   * `owner` holds everything): `{ admin: { webhooks: "*" }, member: { events: ["read"] } }`.
   * A grant may name only this module's own resources and declared actions.
   */
  roleGrants?: Readonly<Record<string, RoleGrant>>;
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
  /** personalData exports and erases what the module stores about an end user (see platform/personal-data.ts). */
  personalData?(service: S): PersonalDataProvider;
  /**
   * manifest declares the environment configuration this module owns as sections of the manifest
   * (`baseplate.yaml`): how to list it, classify a change to it and apply one (platform/manifest.ts).
   */
  manifest?(service: S): AnySection[];
  /**
   * review contributes parts of the review report (`GET /v1/review`): what this module holds that a
   * security reviewer asks about, computed at report time (platform/review.ts).
   */
  review?(service: S): ReviewContributor[];
  /** accessHooks plug lookups into the platform's permission check (tenant state, memberships). */
  accessHooks?(service: S): Partial<AccessHooks>;
  /**
   * connect subscribes to extension points of the modules in `dependsOn` (e.g. the event log's
   * appends). It runs once, after `createService`, and is the only place a module does so.
   */
  connect?(service: S, deps: Services<D>): void;
  /**
   * sealedColumns names the columns holding values sealed with `ctx.secrets` (their row's `id` is
   * the associated data), so rotating the master key re-wraps them.
   */
  sealedColumns?: readonly SealedColumn[];
  /** rateLimitOverrides gives tenants their own rate limits (answered from a cache; one module at most). */
  rateLimitOverrides?(service: S): RateLimitOverrides;
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

const NAME = /^[a-z][a-z0-9_]*$/;

/**
 * collectPermissions gathers every module's `permissions` and `roleGrants`, in the given order.
 * Throws, naming the modules involved, when two modules declare the same resource, a resource or
 * action is malformed (lower-case snake_case), or a grant names a resource or action its module
 * did not declare.
 */
export function collectPermissions(modules: readonly AnyModule[]): DeclaredPermissions[] {
  const owners = new Map<string, string>();
  return modules.map((m) => {
    const statements = m.permissions ?? {};
    for (const [resource, actions] of Object.entries(statements)) {
      if (!NAME.test(resource)) throw new Error(`Module "${m.name}": resource "${resource}" must be snake_case`);
      const owner = owners.get(resource);
      if (owner) throw new Error(`Permission resource "${resource}" is declared by both "${owner}" and "${m.name}"`);
      owners.set(resource, m.name);
      for (const action of actions) {
        if (!NAME.test(action))
          throw new Error(`Module "${m.name}": action "${resource}:${action}" must be snake_case`);
      }
    }
    const roleGrants = m.roleGrants ?? {};
    for (const [role, grant] of Object.entries(roleGrants)) {
      for (const [resource, actions] of Object.entries(grant)) {
        const declared = statements[resource];
        if (!declared) {
          throw new Error(
            `Module "${m.name}" grants role "${role}" the resource "${resource}", which it does not declare`,
          );
        }
        for (const action of actions === "*" ? [] : actions) {
          if (!declared.includes(action)) {
            throw new Error(
              `Module "${m.name}" grants role "${role}" "${resource}:${action}", which it does not declare`,
            );
          }
        }
      }
    }
    return { module: m.name, statements, roleGrants };
  });
}
