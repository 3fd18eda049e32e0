import { createRequire } from "node:module";
import type { Config } from "./config.js";
import { accessModule } from "./modules/access/index.js";
import { auditModule } from "./modules/audit/index.js";
import { backupsModule } from "./modules/backups/index.js";
import { billingModule } from "./modules/billing/index.js";
import { eventsModule } from "./modules/events/index.js";
import { identityModule } from "./modules/identity/index.js";
import { manifestModule } from "./modules/manifest/index.js";
import { portalModule } from "./modules/portal/index.js";
import { rateLimitsModule } from "./modules/ratelimits/index.js";
import { reviewModule } from "./modules/review/index.js";
import { ssoModule } from "./modules/sso/index.js";
import { storageModule } from "./modules/storage/index.js";
import { supportModule } from "./modules/support/index.js";
import { tenancyModule } from "./modules/tenancy/index.js";
import { usageModule } from "./modules/usage/index.js";
import { webhooksModule } from "./modules/webhooks/index.js";
import { Authorizer } from "./platform/access.js";
import { type Clock, systemClock } from "./platform/clock.js";
import { ChangeBus } from "./platform/db/bus.js";
import { connectDatabase, type Db, PLATFORM_MIGRATIONS, PlaneMigrator } from "./platform/db/index.js";
import { FactRecorder } from "./platform/facts/index.js";
import { buildOpenApiDocument, CredentialResolvers, HttpServer, Metrics } from "./platform/http/index.js";
import { registerPlatformRoutes } from "./platform/http/platform-routes.js";
import { IdempotencyLedger } from "./platform/idempotency/ledger.js";
import { IdRegistry, PLATFORM_ID_PREFIXES } from "./platform/ids.js";
import { JobQueue, Worker } from "./platform/jobs/index.js";
import { createLogger, type Logger } from "./platform/logger.js";
import { ManifestRegistry } from "./platform/manifest.js";
import {
  type AnyModule,
  collectPermissions,
  type ModuleContext,
  orderModules,
  type ServiceOf,
} from "./platform/module.js";
import { PersonalDataRegistry } from "./platform/personal-data.js";
import { DatabaseBucketStore, MemoryBucketStore, RateLimiter } from "./platform/ratelimit/index.js";
import { ReviewRegistry } from "./platform/review.js";
import { type SealedColumn, SecretVault } from "./platform/secrets-vault.js";

const pkg = createRequire(import.meta.url)("../package.json") as { version: string };
export const VERSION = pkg.version;

/**
 * MODULES is the plane's table of contents: its domain modules, composed in dependency order.
 * Each later issue adds its module here (tenancy, identity, access, audit, events, webhooks,
 * storage, usage, billing, operations).
 */
export const MODULES: readonly AnyModule[] = [
  tenancyModule,
  identityModule,
  accessModule,
  ssoModule,
  auditModule,
  eventsModule,
  webhooksModule,
  rateLimitsModule,
  usageModule,
  storageModule,
  billingModule,
  backupsModule,
  supportModule,
  portalModule,
  manifestModule,
  reviewModule,
];

export interface AppOptions {
  config: Config;
  /** modules replaces `MODULES` (tests and the benchmark add their own probe module). */
  modules?: readonly AnyModule[];
  clock?: Clock;
  logger?: Logger;
}

/**
 * App is one composed plane: platform services, modules, HTTP server and workers. `createApp`
 * builds it without listening; `start` migrates (when configured), listens and starts workers;
 * `stop` drains requests and jobs, then closes the database.
 */
export class App {
  #started = false;

  readonly config: Config;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly db: Db;
  readonly migrator: PlaneMigrator;
  readonly facts: FactRecorder;
  readonly jobs: JobQueue;
  readonly ledger: IdempotencyLedger;
  readonly credentials: CredentialResolvers;
  readonly metrics: Metrics;
  readonly http: HttpServer;
  readonly worker: Worker;
  readonly bus: ChangeBus;
  readonly access: Authorizer;
  readonly secrets: SecretVault;
  readonly rateLimits: RateLimiter;
  /** sealedColumns lists every column of sealed secrets the modules declared (for master key rotation). */
  get sealedColumns(): SealedColumn[] {
    return this.modules.flatMap((m) => [...(m.sealedColumns ?? [])]);
  }

  /** ids is the plane's registry of ID kinds: the platform's and every module's `ids`. */
  readonly ids: IdRegistry;
  /** modules lists the registered modules in dependency order. */
  readonly modules: readonly AnyModule[];
  readonly #services: ReadonlyMap<string, unknown>;
  readonly #lifecycle: readonly ModuleLifecycle[];

  constructor(
    platform: Platform,
    modules: readonly AnyModule[],
    services: ReadonlyMap<string, unknown>,
    lifecycle: readonly ModuleLifecycle[],
  ) {
    this.config = platform.config;
    this.logger = platform.logger;
    this.clock = platform.clock;
    this.db = platform.db;
    this.migrator = platform.migrator;
    this.facts = platform.facts;
    this.jobs = platform.jobs;
    this.ledger = platform.ledger;
    this.credentials = platform.credentials;
    this.metrics = platform.metrics;
    this.http = platform.http;
    this.worker = platform.worker;
    this.bus = platform.bus;
    this.access = platform.access;
    this.secrets = platform.secrets;
    this.rateLimits = platform.rateLimits;
    this.ids = platform.ids;
    this.modules = modules;
    this.#services = services;
    this.#lifecycle = lifecycle;
  }

  /**
   * service returns the service of a registered module, typed by its definition:
   * `app.service(tenancyModule).tenants` (a module is known by its name, so a variant built with
   * other options answers too). Throws when no module of that name is part of this app.
   */
  service<M extends AnyModule>(module: M): ServiceOf<M> {
    if (!this.#services.has(module.name)) throw new Error(`Module "${module.name}" is not registered in this app`);
    return this.#services.get(module.name) as ServiceOf<M>;
  }

  /** openapi renders the OpenAPI 3.1 document of every registered route. */
  openapi(): Record<string, unknown> {
    // BASEPLATE_PUBLIC_URL unset leaves publicUrl at its listen address: then the document's
    // server is relative, so it is right wherever the plane is reached from.
    const listening = `http://${this.config.host}:${this.config.port}`;
    return buildOpenApiDocument(this.http.routes, {
      version: VERSION,
      ...(this.config.publicUrl !== listening ? { serverUrl: this.config.publicUrl } : {}),
    });
  }

  /** migrate applies pending migrations and returns their names. */
  async migrate(): Promise<string[]> {
    return this.migrator.up();
  }

  /**
   * start applies migrations (when `migrateOnStart`), refuses to serve a database with pending
   * migrations, listens, and starts the workers. Returns the listening address.
   */
  async start(options: { listen?: boolean; workers?: boolean } = {}): Promise<string | null> {
    if (this.config.migrateOnStart) {
      const applied = await this.migrate();
      if (applied.length > 0) this.logger.info({ migrations: applied }, "applied migrations");
    } else {
      const pending = await this.migrator.pending();
      if (pending.length > 0) {
        throw new StartupError(
          `${pending.length} migration(s) pending (${pending.join(", ")}). Run \`baseplate migrate up\` first.`,
        );
      }
    }
    await this.secrets.ready(this.sealedColumns);
    await this.bus.start();
    for (const m of this.#lifecycle) await m.start?.();
    this.#started = true;
    let address: string | null = null;
    if (options.listen ?? true) {
      address = await this.http.fastify.listen({ host: this.config.host, port: this.config.port });
    } else {
      await this.http.fastify.ready();
    }
    if ((options.workers ?? true) && this.config.workers.enabled) this.worker.start();
    return address;
  }

  /**
   * stop shuts down gracefully: new requests answer 503 while in-flight ones finish, workers stop
   * claiming and finish their jobs (up to the shutdown timeout), then the database closes.
   */
  async stop(): Promise<void> {
    const timeout = this.config.shutdownTimeoutMs;
    await Promise.all([this.http.fastify.close(), this.worker.stop(timeout)]);
    if (this.#started) {
      for (const m of [...this.#lifecycle].reverse()) {
        await m.stop?.().catch((err) => this.logger.error({ err }, "module stop failed"));
      }
    }
    await this.bus.stop();
    await this.db.close();
    this.#started = false;
  }

  get started(): boolean {
    return this.#started;
  }
}

/** Platform is the domain-free half of an app: what every module is composed on. */
export interface Platform {
  config: Config;
  logger: Logger;
  clock: Clock;
  db: Db;
  migrator: PlaneMigrator;
  facts: FactRecorder;
  jobs: JobQueue;
  ledger: IdempotencyLedger;
  credentials: CredentialResolvers;
  metrics: Metrics;
  http: HttpServer;
  worker: Worker;
  bus: ChangeBus;
  access: Authorizer;
  secrets: SecretVault;
  rateLimits: RateLimiter;
  ids: IdRegistry;
}

interface ModuleLifecycle {
  start: (() => Promise<void>) | null;
  stop: (() => Promise<void>) | null;
}

export class StartupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "StartupError";
  }
}

/** createApp composes the plane: platform first, then each module in dependency order. */
export async function createApp(options: AppOptions): Promise<App> {
  const { config } = options;
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? createLogger(config.logLevel);
  const modules = orderModules(options.modules ?? MODULES);
  const ids = new IdRegistry();
  ids.register("platform", PLATFORM_ID_PREFIXES);
  for (const m of modules) if (m.ids) ids.register(`module "${m.name}"`, m.ids);
  const permissions = collectPermissions(modules);

  // Platform
  const db = await connectDatabase(config.database, logger);
  try {
    const migrator = new PlaneMigrator(
      db,
      [
        { module: "platform", migrations: PLATFORM_MIGRATIONS },
        ...modules.map((m) => ({ module: m.name, migrations: [...m.migrations] })),
      ],
      config.database.engine === "postgres" ? { schema: config.database.schema } : {},
    );
    const facts = new FactRecorder(clock);
    const bus = new ChangeBus(
      db,
      config.database.engine === "postgres" ? { url: config.database.url, schema: config.database.schema } : null,
      logger,
    );
    const jobs = new JobQueue(db, clock, config.workers.leaseMs);
    jobs.announceTo(bus);
    const ledger = new IdempotencyLedger(db, clock, config.idempotencyTtlMs, config.idempotencyLockMs);
    const credentials = new CredentialResolvers();
    const access = new Authorizer();
    const secrets = new SecretVault(db, config.masterKeyFile, clock, logger);
    const personalData = new PersonalDataRegistry();
    const manifest = new ManifestRegistry();
    const review = new ReviewRegistry();
    // Stored idempotent responses naming the person go with an erasure (they would replay it).
    personalData.register("platform", {
      erase: async (tx, subject) => ({
        idempotentResponses:
          (await ledger.forgetResponses(tx, subject.environmentId, subject.email)) +
          (await ledger.forgetResponses(tx, subject.environmentId, subject.userId)),
      }),
    });
    const metrics = new Metrics({
      queueStats: () => jobs.stats(),
      poolStats: () => db.poolStats(),
      workerPoolStats: () => db.workerPoolStats(),
      commitStats: () => db.groupCommit?.stats ?? null,
    });
    const bucketStore =
      config.rateLimits.store === "database"
        ? new DatabaseBucketStore(db)
        : new MemoryBucketStore(config.rateLimits.maxBuckets);
    const rateLimits = new RateLimiter(config.rateLimits, bucketStore, clock);
    const http = new HttpServer({ config, logger, ledger, credentials, metrics, refusals: access, rateLimits });
    const worker = new Worker(jobs, logger, {
      concurrency: config.workers.concurrency,
      pollIntervalMs: config.workers.pollIntervalMs,
      onOutcome: (job, outcome, ms) => {
        metrics.jobsFinished.inc({ job: job.name, outcome });
        metrics.jobDuration.observe({ job: job.name, outcome }, ms / 1000);
      },
    });

    jobs.define({
      name: "platform.idempotency_prune",
      maxAttempts: 3,
      handler: async () => void (await ledger.prune()),
    });
    jobs.define({
      name: "platform.jobs_prune",
      maxAttempts: 3,
      handler: async () => void (await jobs.prune(clock.now() - 24 * 3_600_000)),
    });
    jobs.every("platform.idempotency_prune", "*/15 * * * *");
    jobs.every("platform.jobs_prune", "7 * * * *");
    if (bucketStore instanceof DatabaseBucketStore) {
      jobs.define({
        name: "platform.rate_limit_prune",
        maxAttempts: 3,
        handler: async () => void (await bucketStore.prune(clock.now())),
      });
      jobs.every("platform.rate_limit_prune", "*/10 * * * *");
    }

    // Modules
    const platform: Platform = {
      config,
      logger,
      clock,
      db,
      migrator,
      facts,
      jobs,
      ledger,
      credentials,
      metrics,
      http,
      worker,
      bus,
      access,
      secrets,
      rateLimits,
      ids,
    };
    const services = new Map<string, unknown>();
    for (const module of modules) {
      const ctx: ModuleContext = {
        config,
        db,
        clock,
        logger: logger.child({ module: module.name }),
        facts,
        jobs,
        bus,
        access,
        secrets,
        personalData,
        manifest,
        review,
        permissions,
      };
      const deps = Object.fromEntries(Object.keys(module.dependsOn ?? {}).map((name) => [name, services.get(name)]));
      if (module.facts) facts.declare(module.name, module.facts);
      const service = module.createService(ctx, deps);
      services.set(module.name, service);
      module.connect?.(service, deps);
      for (const resolver of module.credentialResolvers?.(service) ?? []) credentials.register(resolver);
      for (const { name, sink } of module.factSinks?.(service) ?? []) facts.registerSink(name, sink);
      for (const { topic, handler } of module.busSubscriptions?.(service) ?? []) bus.subscribe(topic, handler);
      const provider = module.personalData?.(service);
      if (provider) personalData.register(module.name, provider);
      manifest.register(module.name, module.manifest?.(service) ?? []);
      review.register(module.name, module.review?.(service) ?? []);
      const hooks = module.accessHooks?.(service);
      if (hooks) access.use(hooks);
      for (const job of module.jobs?.(service) ?? []) jobs.define(job);
      for (const [job, cron] of Object.entries(module.schedules ?? {})) jobs.every(job, cron);
      for (const route of module.routes?.(service) ?? []) http.register(route);
      const overrides = module.rateLimitOverrides?.(service);
      if (overrides) rateLimits.useOverrides(overrides);
      const originPolicy = module.originPolicy?.(service);
      if (originPolicy) http.addOriginPolicy(originPolicy);
    }

    const lifecycle = modules.map((m): ModuleLifecycle => {
      const service = services.get(m.name);
      return {
        start: m.start ? async () => m.start?.(service) : null,
        stop: m.stop ? async () => m.stop?.(service) : null,
      };
    });
    const app = new App(platform, modules, services, lifecycle);
    registerPlatformRoutes(http, { db, migrator, metrics, openapi: () => app.openapi() });
    return app;
  } catch (err) {
    await db.close();
    throw err;
  }
}
