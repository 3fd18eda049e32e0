import { randomBytes } from "node:crypto";
import { sql } from "kysely";
import { expect } from "vitest";
import { type ZodType, z } from "zod";
import { MODULES } from "../app.js";
import type { Fact } from "../platform/facts/index.js";
import type { RouteDefinition } from "../platform/http/route.js";
import { type AnyModule, defineModule } from "../platform/module.js";
import type { ActorType } from "../platform/principal.js";
import { type SeededPlane, seedPlane, TEST_PASSWORD } from "./fixtures.js";
import { createTestApp, type EngineName, type TestApp } from "./harness.js";
import { probeModule } from "./probe-module.js";

/**
 * The cross-environment / cross-tenant scenario runner (DESIGN.md §7, checklist TEN-01…TEN-03 and
 * OWASP API1/API5). It is driven by the route table (`app.http.routes`), so a module inherits the
 * whole suite by registering routes; what a new module must add is fixtures:
 *
 * - `params`: one fixture per path-parameter name (`tenantId`, `userId`, …) that creates the object
 *   in an environment through HTTP with that environment's credentials;
 * - `operatorParams`: the same for parameters of operator-only routes (created by an admin);
 * - `bodies`: a request body per route, when one generated from the route's zod schema does not fit;
 * - `excluded`: a route with path parameters that none of the checks applies to, with the reason.
 *
 * `planIsolation` reports every route it cannot check (a path parameter without a fixture, a
 * credential kind without one, a body it cannot build) so the suite fails until the fixture exists.
 *
 * Tenants: each environment has a home tenant whose owner is its end user, with a tenant key and an
 * agent key (delegated by that user) bound to it. Objects a tenant route's fixture makes live in a
 * fresh tenant, so the home tenant's key, agent and owner are refused there (404) exactly like
 * another environment's credentials: that is the cross-tenant check of every tenant route.
 * "Nothing changed" compares every row of every table except `VOLATILE_COLUMNS`.
 */

// ─── Route table ────────────────────────────────────────────────────────────────────────────────

/** CredentialKind is a credential the runner can present: plane operators and environment credentials. */
export type CredentialKind = "admin" | "support" | "service" | "user" | "tenant_key" | "agent";

export interface Credential {
  kind: CredentialKind;
  token: string;
  /** actorId is the principal's actorId (key id, user id, operator id): what facts must record. */
  actorId: string;
  label: string;
}

/** routeKey names a route as `METHOD /url` (Fastify style params), the key of every fixture table. */
export function routeKey(route: Pick<RouteDefinition, "method" | "url">): string {
  return `${route.method} ${route.url}`;
}

/** pathParams lists a route's path parameter names in URL order. */
export function pathParams(route: Pick<RouteDefinition, "url">): string[] {
  return [...route.url.matchAll(/:([A-Za-z0-9_]+)/g)].map((m) => m[1] as string);
}

/** fillUrl puts ids into a route's URL. Throws when one is missing. */
export function fillUrl(url: string, ids: Record<string, string>): string {
  return url.replace(/:([A-Za-z0-9_]+)/g, (_, name: string) => {
    const id = ids[name];
    if (id === undefined) throw new Error(`No id for :${name} in ${url}`);
    return encodeURIComponent(id);
  });
}

/** ENVIRONMENT_ACTOR_TYPES are the actor types bound to one environment (their data never crosses it). */
const ENVIRONMENT_ACTOR_TYPES: readonly ActorType[] = ["service", "user", "tenant_key", "agent"];

/** acceptedActorTypes lists the actor types a route lets in ("none": it reads no credential). */
export function acceptedActorTypes(route: RouteDefinition): readonly ActorType[] | "none" {
  if (route.auth === "none") return "none";
  if (route.auth === "optional" || route.auth.actorTypes === "any") {
    return ["service", "user", "tenant_key", "agent", "operator", "system"];
  }
  return route.auth.actorTypes;
}

/** acceptsEnvironmentCredentials: the route lets in at least one environment-bound actor type. */
export function acceptsEnvironmentCredentials(route: RouteDefinition): boolean {
  const types = acceptedActorTypes(route);
  return types !== "none" && types.some((t) => ENVIRONMENT_ACTOR_TYPES.includes(t));
}

/** isOperatorOnly: only plane operators may call the route (`auth: { actorTypes: ["operator"] }`). */
export function isOperatorOnly(route: RouteDefinition): boolean {
  return (
    typeof route.auth === "object" && route.auth.actorTypes !== "any" && route.auth.actorTypes.join() === "operator"
  );
}

export function isMutating(route: Pick<RouteDefinition, "method" | "readOnly">): boolean {
  return route.method !== "GET" && route.readOnly !== true;
}

/**
 * loadRouteTable builds the plane (shipped modules + the probe module) on a throwaway SQLite
 * database, without migrating, and returns its route table. Test files call it at the top level
 * so they can declare one test per route.
 */
export async function loadRouteTable(extraModules: AnyModule[] = []): Promise<RouteDefinition[]> {
  const t = await createTestApp("sqlite", { modules: planeModules(extraModules), migrate: false });
  try {
    return [...t.app.http.routes];
  } finally {
    await t.close();
  }
}

function planeModules(extra: AnyModule[]): AnyModule[] {
  return [...MODULES, probeModule, ...extra];
}

// ─── Bodies from zod schemas ──────────────────────────────────────────────────────────────────

interface Def {
  type: string;
  [key: string]: unknown;
}

function defOf(schema: ZodType): Def {
  return (schema as unknown as { _zod: { def: Def } })._zod.def;
}

const STRING_CANDIDATES = [
  "isolation-probe",
  "isolation@example.com",
  "https://isolation.example.com",
  "isolation:read",
  "Isolation probe",
  "*",
  "x",
];
const NUMBER_CANDIDATES = [1, 60, 0, 3600, 86_400];

/**
 * candidates proposes values for a schema, the most "effective" first (booleans `true`, optional
 * fields filled in): a body that would change the target object if the call were let through.
 */
function candidates(schema: ZodType, depth = 0): unknown[] {
  if (depth > 8) return [];
  const def = defOf(schema);
  switch (def.type) {
    case "string":
      return STRING_CANDIDATES;
    case "number":
    case "int":
      return [...NUMBER_CANDIDATES, Date.now() + 86_400_000];
    case "boolean":
      return [true, false];
    case "enum":
      return Object.values(def.entries as Record<string, unknown>);
    case "literal":
      return [...(def.values as unknown[])];
    case "optional":
      return [...candidates(def.innerType as ZodType, depth + 1), undefined];
    case "nullable":
      return [...candidates(def.innerType as ZodType, depth + 1), null];
    case "default":
    case "prefault":
    case "nonoptional":
    case "readonly":
    case "catch":
      return candidates(def.innerType as ZodType, depth + 1);
    case "pipe":
      return candidates(def.in as ZodType, depth + 1);
    case "union":
      return (def.options as ZodType[]).flatMap((o) => candidates(o, depth + 1));
    case "array": {
      const element = pick(def.element as ZodType, depth + 1);
      return element.ok ? [[element.value], []] : [[]];
    }
    case "record":
      return [{ isolation: "probe" }, {}];
    case "object": {
      const out: Record<string, unknown> = {};
      for (const [key, field] of Object.entries(def.shape as Record<string, ZodType>)) {
        const value = pick(field, depth + 1);
        if (value.ok && value.value !== undefined) out[key] = value.value;
      }
      return [out];
    }
    case "unknown":
    case "any":
      return ["isolation-probe"];
    default:
      return [];
  }
}

function pick(schema: ZodType, depth = 0): { ok: true; value: unknown } | { ok: false } {
  for (const c of candidates(schema, depth)) {
    if (schema.safeParse(c).success) return { ok: true, value: c };
  }
  return { ok: false };
}

/**
 * sampleBody builds a valid request body from a zod schema, filling optional fields where it can.
 * Returns undefined for a route without a body; throws when no valid body can be built (add the
 * route to `bodies`).
 */
export function sampleBody(route: RouteDefinition): unknown {
  if (!route.body) return undefined;
  const result = pick(route.body);
  if (!result.ok) {
    throw new Error(`Cannot build a valid body for ${routeKey(route)} from its schema; add it to the body fixtures`);
  }
  return result.value;
}

// ─── The world: a seeded plane, two environments, their actors ──────────────────────────────────

export interface EnvUser extends Credential {
  kind: "user";
  email: string;
  sessionId: string;
}

export interface EnvActors {
  name: "a" | "b";
  environmentId: string;
  surfaceId: string;
  /** marker is a random string in every name this environment's fixtures carry (leak detection). */
  marker: string;
  key: Credential;
  /** user: an end user of the environment with a live session. */
  user: EnvUser;
  /** otherUser: a second end user of the same environment (same-environment BOLA checks). */
  otherUser: EnvUser;
  /** tenantId: the home tenant, owned by `user`. */
  tenantId: string;
  /** tenantKey: a `bp_tk_` key of the home tenant with every permission. */
  tenantKey: Credential;
  /** agent: a `bp_ak_` key `user` delegated in the home tenant, scope `*`. */
  agent: Credential;
}

export interface CallOptions {
  body?: unknown;
  query?: Record<string, string>;
  headers?: Record<string, string>;
}

export interface CallResult {
  status: number;
  text: string;
  json(): unknown;
}

export interface FactRow {
  id: string;
  type: string;
  environment_id: string | null;
  actor_id: string | null;
  targets: Array<{ type: string; id: string }>;
}

export interface IsolationWorld {
  t: TestApp;
  plane: SeededPlane;
  admin: Credential;
  support: Credential;
  a: EnvActors;
  b: EnvActors;
  /** secrets: every token and password seen in a request or response of `call` (fact checks). */
  secrets: Set<string>;
  /** captured: every fact recorded (committed or not), with data and changes (see `factCaptureModule`). */
  captured: Fact[];
  call(credential: Credential | null, method: string, url: string, options?: CallOptions): Promise<CallResult>;
  /** newUser creates an end user in the environment and logs it in (a fresh session). */
  newUser(env: EnvActors, label?: string): Promise<EnvUser>;
  /** newSupportSession opens a fresh session of the support operator (for checks that end it). */
  newSupportSession(): Promise<Credential>;
  snapshot(): Promise<DbSnapshot>;
  facts(): Promise<FactRow[]>;
  /** unique returns a short string unique in this world. */
  unique(): string;
  close(): Promise<void>;
}

/**
 * factCaptureModule is a test module whose fact sink keeps every fact in memory, so a test can
 * read what `probe_fact` does not store (data, changes, the full actor).
 */
export function factCaptureModule(into: Fact[]): AnyModule {
  return defineModule<Fact[]>({
    name: "factcapture",
    dependsOn: [],
    migrations: [],
    createService: () => into,
    factSinks: (list) => [
      {
        name: "fact_capture",
        sink: async (_tx, fact) => {
          list.push(structuredClone(fact));
        },
      },
    ],
  });
}

const SECRET_FIELD = /password|token|secret/i;

function collectSecrets(value: unknown, into: Set<string>): void {
  if (value === null || typeof value !== "object") return;
  for (const [k, v] of Object.entries(value)) {
    if (typeof v === "string" && SECRET_FIELD.test(k) && v.length >= 8) into.add(v);
    else collectSecrets(v, into);
  }
}

/**
 * createIsolationWorld starts a plane on `engine` (shipped modules, the probe module, a fact
 * capture and `extraModules`), seeds it (`seedPlane`), and gives each environment an end user with
 * a session and a second user. Close it with `close()`.
 */
export async function createIsolationWorld(
  engine: EngineName,
  options: { extraModules?: AnyModule[] } = {},
): Promise<IsolationWorld> {
  const captured: Fact[] = [];
  const t = await createTestApp(engine, {
    modules: planeModules([factCaptureModule(captured), ...(options.extraModules ?? [])]),
  });
  try {
    const plane = await seedPlane(t);
    const secrets = new Set<string>([TEST_PASSWORD, plane.operatorToken, plane.supportToken]);
    let counter = 0;
    const unique = () => `${++counter}${randomBytes(3).toString("hex")}`;
    let tables: string[] | null = null;

    const call: IsolationWorld["call"] = async (credential, method, url, options = {}) => {
      const headers: Record<string, string> = { ...options.headers };
      if (credential) {
        headers.authorization = `Bearer ${credential.token}`;
        secrets.add(credential.token);
      }
      collectSecrets(options.body, secrets);
      const res = await t.inject({
        method: method as "GET",
        url,
        headers,
        ...(options.query ? { query: options.query } : {}),
        ...(options.body !== undefined ? { payload: options.body as object } : {}),
      });
      const text = res.body;
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
      collectSecrets(parsed, secrets);
      return { status: res.statusCode, text, json: () => parsed };
    };

    const world: IsolationWorld = {
      t,
      plane,
      secrets,
      captured,
      admin: { kind: "admin", token: plane.operatorToken, actorId: plane.operatorId, label: "admin operator" },
      support: { kind: "support", token: plane.supportToken, actorId: "", label: "support operator" },
      a: undefined as unknown as EnvActors,
      b: undefined as unknown as EnvActors,
      call,
      unique,
      async newUser(env, label = "user") {
        const email = `${label}-${unique()}@${env.marker}.example.com`;
        const created = await call(env.key, "POST", "/v1/users", {
          body: { email, name: `${label} ${env.marker}`, password: TEST_PASSWORD },
        });
        expectStatus(created, 201, `creating an end user in ${env.name}`);
        const login = await call(null, "POST", "/v1/auth/login", {
          body: { surfaceId: env.surfaceId, email, password: TEST_PASSWORD },
        });
        expectStatus(login, 201, `logging in an end user of ${env.name}`);
        const body = login.json() as { token: string; session: { id: string }; user: { id: string } };
        secrets.add(body.token);
        return {
          kind: "user",
          token: body.token,
          actorId: body.user.id,
          email,
          sessionId: body.session.id,
          label: `${env.name.toUpperCase()}'s ${label} session`,
        };
      },
      async newSupportSession() {
        const login = await call(null, "POST", "/v1/operator/login", {
          body: { email: "support@example.com", password: TEST_PASSWORD },
        });
        expectStatus(login, 201, "logging in the support operator");
        const body = login.json() as { token: string; operator: { id: string } };
        return { kind: "support", token: body.token, actorId: body.operator.id, label: "support operator" };
      },
      async snapshot() {
        tables ??= await listTables(t);
        return snapshotTables(t, tables);
      },
      async facts() {
        const rows = await t.app.db.kysely.selectFrom("probe_fact").selectAll().orderBy("id").execute();
        return rows.map((r) => ({
          id: r.id as string,
          type: r.type as string,
          environment_id: r.environment_id as string | null,
          actor_id: r.actor_id as string | null,
          targets: JSON.parse(r.targets as string) as FactRow["targets"],
        }));
      },
      close: () => t.close(),
    };

    const me = await call(world.support, "GET", "/v1/operator/me");
    expectStatus(me, 200, "reading the support operator");
    world.support.actorId = (me.json() as { id: string }).id;

    for (const name of ["a", "b"] as const) {
      const seeded = plane[name];
      const env: EnvActors = {
        name,
        environmentId: seeded.id,
        surfaceId: seeded.surfaceId,
        marker: `iso${randomBytes(4).toString("hex")}${name}`,
        key: {
          kind: "service",
          token: seeded.secretKey,
          actorId: seeded.secretKeyId,
          label: `${name.toUpperCase()}'s secret key`,
        },
        user: undefined as unknown as EnvUser,
        otherUser: undefined as unknown as EnvUser,
        tenantId: "",
        tenantKey: undefined as unknown as Credential,
        agent: undefined as unknown as Credential,
      };
      secrets.add(seeded.secretKey);
      env.user = await world.newUser(env, "user");
      env.otherUser = await world.newUser(env, "other");
      await homeTenant(world, env);
      world[name] = env;
    }
    return world;
  } catch (err) {
    await t.close();
    throw err;
  }
}

/** homeTenant gives `env` its home tenant (owner: `env.user`), a tenant key and an agent key. */
async function homeTenant(w: IsolationWorld, env: EnvActors): Promise<void> {
  const tenant = await w.call(env.key, "POST", "/v1/tenants", { body: { name: `Home ${env.marker}` } });
  expectStatus(tenant, 201, `creating ${env.name}'s home tenant`);
  env.tenantId = (tenant.json() as { id: string }).id;
  const member = await w.call(env.key, "POST", `/v1/tenants/${env.tenantId}/members`, {
    body: { userId: env.user.actorId, roles: ["owner"] },
  });
  expectStatus(member, 201, `making ${env.name}'s user the home tenant's owner`);
  const key = await w.call(env.key, "POST", `/v1/tenants/${env.tenantId}/keys`, {
    body: { name: `home key ${env.marker}`, permissions: ["*"] },
  });
  expectStatus(key, 201, `creating ${env.name}'s tenant key`);
  const k = key.json() as { token: string; tenantKey: { id: string } };
  env.tenantKey = {
    kind: "tenant_key",
    token: k.token,
    actorId: k.tenantKey.id,
    label: `${env.name.toUpperCase()}'s tenant key`,
  };
  const agent = await w.call(env.key, "POST", `/v1/tenants/${env.tenantId}/agent-keys`, {
    body: { name: `home agent ${env.marker}`, scopes: ["*"], userId: env.user.actorId },
  });
  expectStatus(agent, 201, `creating ${env.name}'s agent key`);
  const a = agent.json() as { token: string; agentKey: { id: string } };
  env.agent = { kind: "agent", token: a.token, actorId: a.agentKey.id, label: `${env.name.toUpperCase()}'s agent key` };
  w.secrets.add(k.token);
  w.secrets.add(a.token);
}

/** expectStatus fails with the response body when the status is not the expected one. */
export function expectStatus(res: CallResult, status: number, what: string): void {
  if (res.status !== status) {
    throw new Error(`${what}: expected ${status}, got ${res.status}: ${res.text.slice(0, 500)}`);
  }
}

// ─── Database snapshots ─────────────────────────────────────────────────────────────────────────

/** VOLATILE_COLUMNS change on reads by design (batched lastUsedAt) and are left out of snapshots. */
export const VOLATILE_COLUMNS: ReadonlySet<string> = new Set(["last_used_at"]);

/** DbSnapshot holds every row of every table (volatile columns removed), as sorted JSON strings. */
export type DbSnapshot = Map<string, string[]>;

async function listTables(t: TestApp): Promise<string[]> {
  const db = t.app.db.kysely;
  if (t.config.database.engine === "postgres") {
    const { rows } = await sql<{ table_name: string }>`
      select table_name from information_schema.tables
      where table_schema = ${t.config.database.schema} and table_type = 'BASE TABLE'`.execute(db);
    return rows.map((r) => r.table_name).sort();
  }
  const { rows } = await sql<{ name: string }>`
    select name from sqlite_master where type = 'table' and name not like 'sqlite_%'`.execute(db);
  return rows.map((r) => r.name).sort();
}

async function snapshotTables(t: TestApp, tables: string[]): Promise<DbSnapshot> {
  const snapshot: DbSnapshot = new Map();
  for (const table of tables) {
    const rows = await t.app.db.kysely.selectFrom(table).selectAll().execute();
    snapshot.set(
      table,
      rows
        .map((row) => {
          const kept = Object.fromEntries(
            Object.entries(row as Record<string, unknown>)
              .filter(([k]) => !VOLATILE_COLUMNS.has(k))
              .sort(([x], [y]) => x.localeCompare(y)),
          );
          return JSON.stringify(kept);
        })
        .sort(),
    );
  }
  return snapshot;
}

export interface TableDiff {
  table: string;
  added: string[];
  removed: string[];
}

/** diffSnapshots lists, per table, the rows that appeared and disappeared (a change is both). */
export function diffSnapshots(before: DbSnapshot, after: DbSnapshot): TableDiff[] {
  const diffs: TableDiff[] = [];
  for (const table of new Set([...before.keys(), ...after.keys()])) {
    const b = new Set(before.get(table) ?? []);
    const a = new Set(after.get(table) ?? []);
    const added = [...a].filter((r) => !b.has(r));
    const removed = [...b].filter((r) => !a.has(r));
    if (added.length > 0 || removed.length > 0) diffs.push({ table, added, removed });
  }
  return diffs;
}

function describeDiff(diffs: TableDiff[]): string {
  return diffs
    .map(
      (d) =>
        `${d.table}: +${d.added.length} -${d.removed.length}` +
        `${d.added.slice(0, 2).map((r) => `\n  + ${r.slice(0, 300)}`)}${d.removed.slice(0, 2).map((r) => `\n  - ${r.slice(0, 300)}`)}`,
    )
    .join("\n");
}

// ─── Fixtures ─────────────────────────────────────────────────────────────────────────────────

/** CreatedObject is an object a fixture made: its id, the credential that owns it, and a read-back. */
export interface CreatedObject {
  id: string;
  /** owner is the credential allowed to act on it (the positive control uses it). */
  owner: Credential;
  /** read returns the object as its owner sees it, to compare before and after a refused call. */
  read?: () => Promise<unknown>;
}

/**
 * ParamFixture creates, in `env`, the object a path parameter names, through HTTP with `env`'s
 * credentials. `parents` holds the objects of the parameters before it in the URL; a fixture
 * must create the parents it needs itself when they are missing (list checks call it alone).
 */
export type ParamFixture = (
  w: IsolationWorld,
  env: EnvActors,
  parents: Record<string, CreatedObject>,
) => Promise<CreatedObject>;

/** OperatorParamFixture creates, as the admin operator, the object a parameter of an operator-only route names. */
export type OperatorParamFixture = (w: IsolationWorld) => Promise<string>;

/** BodyFixture returns the request body of one route (when the one generated from the schema does not fit). */
export type BodyFixture = (w: IsolationWorld, ids: Record<string, string>) => unknown;

/** SupportException is an operator-only mutating route support operators may call, with its own check. */
export interface SupportException {
  reason: string;
  check(w: IsolationWorld, route: RouteDefinition): Promise<void>;
}

export interface IsolationRegistry {
  params: Record<string, ParamFixture>;
  operatorParams: Record<string, OperatorParamFixture>;
  bodies: Record<string, BodyFixture>;
  /** excluded: routes with path params that no check covers, by route key, with the reason. */
  excluded: Record<string, string>;
  /**
   * streams: routes that answer with a never-ending stream (server-sent events), by route key, with
   * the test file that checks their isolation: the runner's list and smuggled-scope checks, which
   * wait for a complete answer, skip them (function-level checks still run: refusals end).
   */
  streams?: Record<string, string>;
  supportExceptions: Record<string, SupportException>;
}

async function readBack(w: IsolationWorld, credential: Credential, url: string): Promise<unknown> {
  const res = await w.call(credential, "GET", url);
  return { status: res.status, body: res.json() };
}

async function json200(res: CallResult, what: string): Promise<Record<string, unknown>> {
  expectStatus(res, 200, what);
  return res.json() as Record<string, unknown>;
}

async function created(res: CallResult, what: string): Promise<Record<string, unknown>> {
  expectStatus(res, 201, what);
  return res.json() as Record<string, unknown>;
}

/** PARAM_FIXTURES: one per path parameter of a route that accepts environment credentials. Add yours here. */
export const PARAM_FIXTURES: Record<string, ParamFixture> = {
  tenantId: async (w, env) => {
    const n = w.unique();
    const body = await created(
      await w.call(env.key, "POST", "/v1/tenants", {
        body: { name: `Tenant ${env.marker} ${n}`, externalId: `ext-${env.marker}-${n}`, metadata: { tier: "gold" } },
      }),
      "creating a tenant",
    );
    const id = body.id as string;
    return { id, owner: env.key, read: () => readBack(w, env.key, `/v1/tenants/${id}`) };
  },
  userId: async (w, env) => {
    const n = w.unique();
    const body = await created(
      await w.call(env.key, "POST", "/v1/users", {
        body: { email: `fixture-${n}@${env.marker}.example.com`, name: `User ${env.marker}`, password: TEST_PASSWORD },
      }),
      "creating a user",
    );
    const id = body.id as string;
    // A live session, so revocations would show.
    const login = await w.call(null, "POST", "/v1/auth/login", {
      body: { surfaceId: env.surfaceId, email: body.email, password: TEST_PASSWORD },
    });
    expectStatus(login, 201, "logging the fixture user in");
    return {
      id,
      owner: env.key,
      read: async () => [
        await readBack(w, env.key, `/v1/users/${id}`),
        await readBack(w, env.key, `/v1/users/${id}/sessions`),
      ],
    };
  },
  sessionId: async (w, env) => {
    const login = await w.call(null, "POST", "/v1/auth/login", {
      body: { surfaceId: env.surfaceId, email: env.user.email, password: TEST_PASSWORD },
    });
    const body = await created(login, "logging in to make a session");
    const id = (body.session as { id: string }).id;
    return {
      id,
      owner: env.user,
      read: async () => {
        const res = await w.call(env.key, "GET", `/v1/users/${env.user.actorId}/sessions`, { query: { limit: "100" } });
        return (res.json() as { data: Array<{ id: string }> }).data.find((s) => s.id === id) ?? null;
      },
    };
  },
  eventId: async (w, env) => {
    const type = await eventTypeIn(w, env);
    // An event of the home tenant: its members and keys may read it, other tenants may not.
    const body = await created(
      await w.call(env.key, "POST", "/v1/events", {
        body: { type: type.name, tenantId: env.tenantId, data: { marker: env.marker } },
      }),
      "publishing an event",
    );
    const id = body.id as string;
    return { id, owner: env.key, read: () => readBack(w, env.key, `/v1/events/${id}`) };
  },
  eventTypeId: async (w, env) => {
    const type = await eventTypeIn(w, env);
    return {
      id: type.id,
      owner: env.key,
      read: async () => {
        const res = await w.call(env.key, "GET", "/v1/events/types");
        return (res.json() as { data: Array<{ id: string }> }).data.find((t) => t.id === type.id) ?? null;
      },
    };
  },
  endpointId: async (w, env) => {
    const body = await created(
      await w.call(env.key, "POST", "/v1/webhooks/endpoints", {
        // Owned by the home tenant: its members and keys manage it, the environment's key too.
        body: {
          url: `https://${env.marker}.example.com/hooks`,
          description: `Endpoint ${env.marker}`,
          tenantId: env.tenantId,
          eventTypes: ["iso.*"],
        },
      }),
      "creating a webhook endpoint",
    );
    const id = (body.endpoint as { id: string }).id;
    return { id, owner: env.key, read: () => readBack(w, env.key, `/v1/webhooks/endpoints/${id}`) };
  },
  messageId: async (w, env, parents) => {
    const endpoint = await (PARAM_FIXTURES.endpointId as ParamFixture)(w, env, parents);
    await (PARAM_FIXTURES.eventId as ParamFixture)(w, env, {});
    const list = await w.call(env.key, "GET", `/v1/webhooks/endpoints/${endpoint.id}/messages`);
    expectStatus(list, 200, "listing the endpoint's messages");
    const id = (list.json() as { data: Array<{ id: string }> }).data[0]?.id as string;
    return { id, owner: env.key, read: () => readBack(w, env.key, `/v1/webhooks/messages/${id}`) };
  },
  roleKey: async (w, env) => {
    const key = `r${w.unique()}`;
    await created(
      await w.call(env.key, "POST", "/v1/roles", {
        body: { key, name: `Role ${env.marker}`, permissions: ["members:read", `reports_${env.marker}:read`] },
      }),
      "creating a role",
    );
    return { id: key, owner: env.key, read: () => readBack(w, env.key, `/v1/roles/${key}`) };
  },
  membershipId: async (w, env, parents) => {
    const tenant = parents.tenantId ?? (await tenantFixture(w, env));
    const user = await PARAM_FIXTURES.userId?.(w, env, {});
    const body = await created(
      await w.call(env.key, "POST", `/v1/tenants/${tenant.id}/members`, {
        body: { userId: user?.id, roles: ["member"] },
      }),
      "adding a member",
    );
    const id = body.id as string;
    return { id, owner: env.key, read: () => readBack(w, env.key, `/v1/tenants/${tenant.id}/members/${id}`) };
  },
  invitationId: async (w, env, parents) => {
    const tenant = parents.tenantId ?? (await tenantFixture(w, env));
    const body = await created(
      await w.call(env.key, "POST", `/v1/tenants/${tenant.id}/invitations`, {
        body: { email: `invitee-${w.unique()}@${env.marker}.example.com`, roles: ["member"] },
      }),
      "inviting",
    );
    const id = (body.invitation as { id: string }).id;
    return {
      id,
      owner: env.key,
      read: () => readBack(w, env.key, `/v1/tenants/${tenant.id}/invitations?limit=100`),
    };
  },
  keyId: async (w, env, parents) => {
    const tenant = parents.tenantId ?? (await tenantFixture(w, env));
    const body = await created(
      await w.call(env.key, "POST", `/v1/tenants/${tenant.id}/keys`, {
        body: { name: `key ${env.marker}`, permissions: ["members:read"] },
      }),
      "creating a tenant key",
    );
    const id = (body.tenantKey as { id: string }).id;
    return { id, owner: env.key, read: () => readBack(w, env.key, `/v1/tenants/${tenant.id}/keys/${id}`) };
  },
  agentKeyId: async (w, env, parents) => {
    const tenant = parents.tenantId ?? (await tenantFixture(w, env));
    const userId = await memberOf(w, env, tenant.id);
    const body = await created(
      await w.call(env.key, "POST", `/v1/tenants/${tenant.id}/agent-keys`, {
        body: { name: `agent ${env.marker}`, scopes: ["members:read"], userId },
      }),
      "creating an agent key",
    );
    const id = (body.agentKey as { id: string }).id;
    return { id, owner: env.key, read: () => readBack(w, env.key, `/v1/tenants/${tenant.id}/agent-keys/${id}`) };
  },
  auditSchemaId: async (w, env) => {
    const action = `isolation_${w.unique()}.probed`;
    const body = await json200(
      await w.call(env.key, "POST", "/v1/audit/schemas", { body: { action, schema: { type: "object" } } }),
      "registering an audit schema",
    );
    const id = body.id as string;
    return {
      id,
      owner: env.key,
      read: async () => {
        const res = await w.call(env.key, "GET", "/v1/audit/schemas");
        return (res.json() as { data: Array<{ id: string }> }).data.find((s) => s.id === id) ?? null;
      },
    };
  },
  itemId: async (w, env) => {
    const body = await created(
      await w.call(env.key, "POST", "/v1/probe/items", { body: { name: `item ${env.marker} ${w.unique()}` } }),
      "creating a probe item",
    );
    const id = body.id as string;
    return { id, owner: env.key, read: () => readBack(w, env.key, `/v1/probe/items/${id}`) };
  },
};

/** eventTypeIn registers a product event type in the environment (events must be in the catalog). */
async function eventTypeIn(w: IsolationWorld, env: EnvActors): Promise<{ id: string; name: string }> {
  const name = `iso.e${w.unique()}`;
  const body = await created(
    await w.call(env.key, "POST", "/v1/events/types", { body: { name, description: `Type ${env.marker}` } }),
    "registering an event type",
  );
  return { id: body.id as string, name };
}

function tenantFixture(w: IsolationWorld, env: EnvActors): Promise<CreatedObject> {
  const fixture = PARAM_FIXTURES.tenantId;
  if (!fixture) throw new Error("no tenantId fixture");
  return fixture(w, env, {});
}

/** memberOf creates a user of `env` and makes it a member of the tenant; returns its id. */
export async function memberOf(
  w: IsolationWorld,
  env: EnvActors,
  tenantId: string,
  roles = ["member"],
): Promise<string> {
  const user = await PARAM_FIXTURES.userId?.(w, env, {});
  if (!user) throw new Error("no userId fixture");
  await created(
    await w.call(env.key, "POST", `/v1/tenants/${tenantId}/members`, { body: { userId: user.id, roles } }),
    "adding a member",
  );
  return user.id;
}

async function scratchEnvironment(w: IsolationWorld): Promise<{ environmentId: string; surfaceId: string }> {
  const project = await created(
    await w.call(w.admin, "POST", "/v1/projects", { body: { name: `Scratch ${w.unique()}` } }),
    "creating a scratch project",
  );
  const env = await created(
    await w.call(w.admin, "POST", `/v1/projects/${project.id}/environments`, { body: { name: "Scratch" } }),
    "creating a scratch environment",
  );
  const surface = await created(
    await w.call(w.admin, "POST", `/v1/environments/${env.id}/surfaces`, { body: { name: "Scratch", kind: "api" } }),
    "creating a scratch surface",
  );
  return { environmentId: env.id as string, surfaceId: surface.id as string };
}

/**
 * OPERATOR_PARAM_FIXTURES: one per path parameter of an operator-only route. Objects are
 * throwaways (never the seeded environments), so a check that wrongly lets a call through cannot
 * break the rest of the run. Add yours here.
 */
export const OPERATOR_PARAM_FIXTURES: Record<string, OperatorParamFixture> = {
  projectId: async (w) =>
    (
      await created(
        await w.call(w.admin, "POST", "/v1/projects", { body: { name: `Scratch ${w.unique()}` } }),
        "creating a project",
      )
    ).id as string,
  environmentId: async (w) => (await scratchEnvironment(w)).environmentId,
  surfaceId: async (w) => (await scratchEnvironment(w)).surfaceId,
  keyId: async (w) => {
    const env = await scratchEnvironment(w);
    const key = await created(
      await w.call(w.admin, "POST", `/v1/environments/${env.environmentId}/secret-keys`, {
        body: { surfaceId: env.surfaceId, name: "scratch" },
      }),
      "creating a secret key",
    );
    return (key.secretKey as { id: string }).id;
  },
  operatorId: async (w) =>
    (
      await created(
        await w.call(w.admin, "POST", "/v1/operators", {
          body: { email: `op-${w.unique()}@example.com`, name: "Scratch", role: "support", password: TEST_PASSWORD },
        }),
        "creating an operator",
      )
    ).id as string,
  tokenId: async (w) =>
    (
      (
        await created(
          await w.call(w.admin, "POST", "/v1/operator/tokens", { body: { name: `scratch ${w.unique()}` } }),
          "creating an operator token",
        )
      ).operatorToken as { id: string }
    ).id,
};

/** BODY_FIXTURES: per-route bodies where the generated one does not reach the service. */
export const BODY_FIXTURES: Record<string, BodyFixture> = {
  // Event types are dotted lower-case words, which no generated string is.
  "POST /v1/events": () => ({ type: "iso.published", data: { n: 1 } }),
  "POST /v1/events/types": (w) => ({ name: `iso.t${w.unique()}`, description: "Isolation probe" }),
  "PATCH /v1/events/types/:eventTypeId": () => ({ description: "Changed", deprecated: true }),
  // The generated tenantId would name no tenant.
  "POST /v1/webhooks/endpoints": () => ({ url: "https://isolation.example.com/hook", eventTypes: ["iso.*"] }),
  "POST /v1/roles": (w) => ({ key: `r${w.unique()}`, name: "Fixture role", permissions: ["members:read"] }),
  "PATCH /v1/roles/:roleKey": () => ({ name: "Renamed role", permissions: ["members:*"] }),
  // A user of A (the only environment whose tenants the positive control reaches).
  "POST /v1/tenants/:tenantId/members": async (w) => ({
    userId: (await PARAM_FIXTURES.userId?.(w, w.a, {}))?.id,
    roles: ["member"],
  }),
  "PATCH /v1/tenants/:tenantId/members/:membershipId": () => ({ roles: ["admin"] }),
  "POST /v1/tenants/:tenantId/invitations": (w) => ({ email: `invitee-${w.unique()}@example.com`, roles: ["member"] }),
  "POST /v1/tenants/:tenantId/keys": () => ({ name: "fixture key", permissions: ["members:read"] }),
  "POST /v1/tenants/:tenantId/agent-keys": async (w, ids) => ({
    name: "fixture agent",
    scopes: ["members:read"],
    userId: ids.tenantId ? await memberOf(w, w.a, ids.tenantId) : w.a.user.actorId,
  }),
  "POST /v1/tenants/:tenantId/suspend": () => ({ reason: "fixture suspension" }),
  "POST /v1/tenants/:tenantId/deactivate": () => ({ reason: "fixture deactivation" }),
  "POST /v1/access/check": (w) => ({
    subject: { type: "user", id: w.a.user.actorId },
    tenantId: w.a.tenantId,
    permission: "members:read",
  }),
  "POST /v1/access/explain": (w) => ({
    subject: { type: "user", id: w.a.user.actorId },
    tenantId: w.a.tenantId,
    permission: "members:read",
  }),
  "POST /v1/access/check-batch": (w) => ({
    checks: [{ subject: { type: "user", id: w.a.user.actorId }, tenantId: w.a.tenantId, permission: "members:read" }],
  }),
  // Audit actions are noun.past_verb, which no generated string is.
  "POST /v1/audit/entries": () => ({ action: "isolation.probed", targets: [{ type: "probe", id: "p1" }] }),
  "POST /v1/tenants/:tenantId/audit/entries": () => ({ action: "isolation.probed" }),
  "POST /v1/audit/schemas": () => ({ action: "isolation.probed", schema: { type: "object" } }),
  "POST /v1/audit/checkpoints": () => ({}),
  // The generated current password would be wrong (403) and count as a failed login attempt.
  "POST /v1/auth/password": () => ({
    currentPassword: TEST_PASSWORD,
    newPassword: "another correct horse battery",
    revokeOtherSessions: false,
  }),
};

/**
 * SUPPORT_EXCEPTIONS: operator-only mutating routes a support operator may call. Each checks what
 * support may and may not do there.
 */
export const SUPPORT_EXCEPTIONS: Record<string, SupportException> = {
  "POST /v1/operator/tokens/:tokenId/revoke": {
    reason: "every operator may end its own credentials (logout); another operator's token answers 404",
    async check(w, route) {
      const adminToken = await OPERATOR_PARAM_FIXTURES.tokenId?.(w);
      if (!adminToken) throw new Error("no tokenId fixture");
      await expectRefused(w, {
        label: "support revoking the admin's token",
        caller: w.support,
        method: route.method,
        url: fillUrl(route.url, { tokenId: adminToken }),
        status: 404,
      });
      const session = await w.newSupportSession();
      const logout = await w.call(session, "POST", fillUrl(route.url, { tokenId: "current" }));
      expectStatus(logout, 200, "support logging out");
      const after = await w.call(session, "GET", "/v1/operator/me");
      expectStatus(after, 401, "the support session after logout");
    },
  },
};

export const ISOLATION_REGISTRY: IsolationRegistry = {
  params: PARAM_FIXTURES,
  operatorParams: OPERATOR_PARAM_FIXTURES,
  bodies: BODY_FIXTURES,
  excluded: {},
  streams: {
    "GET /v1/events/stream":
      "src/modules/events/stream.test.ts: other environments' and tenants' events never reach a stream",
  },
  supportExceptions: SUPPORT_EXCEPTIONS,
};

// ─── The plan ─────────────────────────────────────────────────────────────────────────────────

export type CheckName =
  | "cross_environment"
  | "list_isolation"
  | "smuggled_scope"
  | "function_level"
  | "operator_support";

export interface RoutePlan {
  route: RouteDefinition;
  key: string;
  params: string[];
  checks: CheckName[];
}

export interface IsolationPlan {
  routes: RoutePlan[];
  /** problems: why a route cannot be checked (missing fixture, unknown credential kind, no body). */
  problems: string[];
  /** pathParamRoutes: every route key with path params. */
  pathParamRoutes: string[];
  /** excluded: route keys with path params checked by none of the isolation checks, documented. */
  excluded: string[];
}

/**
 * planIsolation decides, for every route of the table, which checks apply, and reports every
 * route it cannot check. A route with path params must be cross-environment checked (it accepts
 * environment credentials), operator-checked (operator-only), or listed in `registry.excluded`.
 */
export function planIsolation(
  routes: readonly RouteDefinition[],
  registry: IsolationRegistry = ISOLATION_REGISTRY,
): IsolationPlan {
  const problems: string[] = [];
  const plans: RoutePlan[] = [];
  const pathParamRoutes: string[] = [];
  const excluded: string[] = [];
  for (const route of routes) {
    const key = routeKey(route);
    const params = pathParams(route);
    const checks: CheckName[] = [];
    const environmentRoute = acceptsEnvironmentCredentials(route);
    if (params.length > 0) pathParamRoutes.push(key);
    if (environmentRoute) {
      if (registry.streams?.[key]) {
        // A stream never ends: its isolation is checked by its own tests (see `streams`).
      } else if (params.length > 0) {
        checks.push("cross_environment");
        for (const p of params) {
          if (!registry.params[p]) problems.push(`${key}: no fixture for path parameter :${p} (add it to params)`);
        }
      } else if (route.method === "GET") {
        checks.push("list_isolation");
      }
      if (!registry.streams?.[key]) checks.push("smuggled_scope");
    }
    if (typeof route.auth === "object" && route.auth.actorTypes !== "any") checks.push("function_level");
    if (isOperatorOnly(route)) {
      checks.push("operator_support");
      for (const p of params) {
        if (!registry.operatorParams[p]) {
          problems.push(`${key}: no operator fixture for path parameter :${p} (add it to operatorParams)`);
        }
      }
    }
    if (params.length > 0 && !checks.includes("cross_environment") && !checks.includes("operator_support")) {
      if (registry.excluded[key]) excluded.push(key);
      else
        problems.push(
          `${key}: has path parameters but no isolation check applies; add fixtures or document an exclusion`,
        );
    }
    if (route.body && !registry.bodies[key] && checks.length > 0) {
      try {
        sampleBody(route);
      } catch (err) {
        problems.push((err as Error).message);
      }
    }
    if (checks.length > 0) plans.push({ route, key, params, checks });
  }
  return { routes: plans, problems, pathParamRoutes, excluded };
}

// ─── Checks ───────────────────────────────────────────────────────────────────────────────────

/** environmentCredentials lists an environment's credentials a route accepts (service key, user session). */
export function environmentCredentials(env: EnvActors, route: RouteDefinition, user: EnvUser = env.user): Credential[] {
  const types = acceptedActorTypes(route);
  if (types === "none") return [];
  const out: Credential[] = [];
  if (types.includes("service")) out.push(env.key);
  if (types.includes("user")) out.push(user);
  if (types.includes("tenant_key")) out.push(env.tenantKey);
  if (types.includes("agent")) out.push(env.agent);
  return out;
}

async function bodyFor(
  w: IsolationWorld,
  route: RouteDefinition,
  ids: Record<string, string>,
  registry: IsolationRegistry,
): Promise<unknown> {
  const fixture = registry.bodies[routeKey(route)];
  return fixture ? fixture(w, ids) : sampleBody(route);
}

async function createParams(
  w: IsolationWorld,
  env: EnvActors,
  params: string[],
  registry: IsolationRegistry,
): Promise<Record<string, CreatedObject>> {
  const out: Record<string, CreatedObject> = {};
  for (const p of params) {
    const fixture = registry.params[p];
    if (!fixture) throw new Error(`No fixture for path parameter :${p}`);
    out[p] = await fixture(w, env, { ...out });
  }
  return out;
}

function idsOf(objects: Record<string, CreatedObject>): Record<string, string> {
  return Object.fromEntries(Object.entries(objects).map(([k, o]) => [k, o.id]));
}

export interface RefusedCall {
  label: string;
  caller: Credential | null;
  method: string;
  url: string;
  body?: unknown;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  /** status: the one expected status. */
  status: number;
  /** reads: read-backs of the objects that must not change. */
  reads?: Array<() => Promise<unknown>>;
}

/**
 * expectRefused makes a call that must be refused with `status` and must change nothing: every
 * table's rows (volatile columns aside) and every read-back are the same after it, and no fact
 * was recorded.
 */
export async function expectRefused(w: IsolationWorld, c: RefusedCall): Promise<void> {
  const readsBefore = await Promise.all((c.reads ?? []).map((r) => r()));
  const before = await w.snapshot();
  const factsBefore = w.captured.length;
  const res = await w.call(c.caller, c.method, c.url, {
    ...(c.body !== undefined ? { body: c.body } : {}),
    ...(c.query ? { query: c.query } : {}),
    ...(c.headers ? { headers: c.headers } : {}),
  });
  const after = await w.snapshot();
  const what = `${c.label}: ${c.method} ${c.url}`;
  expect(res.status, `${what} answered ${res.status}: ${res.text.slice(0, 400)}`).toBe(c.status);
  if (c.status === 404) {
    const code = (res.json() as { code?: string } | undefined)?.code;
    expect(code, `${what} hit no route at all (check the URL)`).not.toBe("route_not_found");
  }
  const diffs = diffSnapshots(before, after);
  expect(diffs, `${what} changed the database:\n${describeDiff(diffs)}`).toEqual([]);
  expect(
    w.captured.slice(factsBefore).map((f) => f.type),
    `${what} recorded facts`,
  ).toEqual([]);
  const readsAfter = await Promise.all((c.reads ?? []).map((r) => r()));
  expect(readsAfter, `${what} changed an object as its owner sees it`).toEqual(readsBefore);
}

/** CoverageLog records which routes each check actually ran on (the suite compares it to the plan). */
export type CoverageLog = Map<CheckName, Set<string>>;

export function newCoverageLog(): CoverageLog {
  return new Map();
}

function logCoverage(log: CoverageLog | undefined, check: CheckName, key: string): void {
  if (!log) return;
  const set = log.get(check) ?? new Set<string>();
  log.set(check, set);
  set.add(key);
}

/**
 * checkCrossEnvironment (TEN-01, API1): A's objects, addressed by id with B's credentials (B's key,
 * a B user session), answer 404 and change nothing; so does another user of A for user routes;
 * for nested routes, B's parent with A's child too. Finally the owner's own call succeeds (the
 * positive control: otherwise the 404s would prove nothing).
 */
export async function checkCrossEnvironment(
  w: IsolationWorld,
  plan: RoutePlan,
  registry: IsolationRegistry = ISOLATION_REGISTRY,
  log?: CoverageLog,
): Promise<void> {
  const { route } = plan;
  const objects = await createParams(w, w.a, plan.params, registry);
  const ids = idsOf(objects);
  const body = await bodyFor(w, route, ids, registry);
  const reads = Object.values(objects).flatMap((o) => (o.read ? [o.read] : []));
  const callers = environmentCredentials(w.b, route);
  if (callers.length === 0) throw new Error(`${plan.key}: no environment credential to call it with`);
  for (const caller of callers) {
    await expectRefused(w, {
      label: `${caller.label} with A's ids`,
      caller,
      method: route.method,
      url: fillUrl(route.url, ids),
      body,
      status: 404,
      reads,
    });
  }
  if (plan.params[0] === "tenantId") {
    // Cross-tenant, same environment: the home tenant's owner, key and agent in another tenant.
    for (const caller of environmentCredentials(w.a, route).filter((c) => c.kind !== "service")) {
      await expectRefused(w, {
        label: `${caller.label} (bound to A's home tenant) in another tenant of A`,
        caller,
        method: route.method,
        url: fillUrl(route.url, ids),
        body,
        status: 404,
        reads,
      });
    }
  }
  const last = objects[plan.params[plan.params.length - 1] as string] as CreatedObject;
  if (last.owner.kind === "user") {
    await expectRefused(w, {
      label: "another end user of A",
      caller: w.a.otherUser,
      method: route.method,
      url: fillUrl(route.url, ids),
      body,
      status: 404,
      reads,
    });
  }
  if (plan.params.length > 1) {
    const own = idsOf(await createParams(w, w.b, plan.params, registry));
    for (const p of plan.params) {
      for (const caller of callers) {
        await expectRefused(w, {
          label: `${caller.label} with B's ids but A's :${p}`,
          caller,
          method: route.method,
          url: fillUrl(route.url, { ...own, [p]: ids[p] as string }),
          body,
          status: 404,
          reads,
        });
      }
    }
  }
  const control = await w.call(last.owner, route.method, fillUrl(route.url, ids), {
    ...(body !== undefined ? { body } : {}),
  });
  expect(
    control.status,
    `positive control: ${last.owner.label} calling ${route.method} ${fillUrl(route.url, ids)} must succeed: ${control.text.slice(0, 300)}`,
  ).toBe(route.response.status);
  logCoverage(log, "cross_environment", plan.key);
}

function needlesOf(env: EnvActors, objects: CreatedObject[]): string[] {
  return [
    env.marker,
    env.environmentId,
    env.key.actorId,
    env.user.actorId,
    env.user.sessionId,
    env.otherUser.actorId,
    ...objects.map((o) => o.id),
  ];
}

/**
 * checkListIsolation (TEN-02): a list or search route called with B's credentials never returns
 * A's objects, whatever filter, search or cursor names them; with A's credentials it does (the
 * positive control).
 */
export async function checkListIsolation(
  w: IsolationWorld,
  plan: RoutePlan,
  registry: IsolationRegistry = ISOLATION_REGISTRY,
  log?: CoverageLog,
): Promise<void> {
  const { route } = plan;
  const aObjects: CreatedObject[] = [];
  for (const fixture of Object.values(registry.params)) {
    aObjects.push(await fixture(w, w.a, {}));
    await fixture(w, w.b, {});
  }
  const needles = needlesOf(w.a, aObjects);
  const queryFields =
    route.query instanceof z.ZodObject ? Object.keys(route.query.shape).filter((k) => k !== "limit") : [];
  const values = [
    w.a.marker,
    w.a.environmentId,
    w.a.user.email,
    ...aObjects.map((o) => o.id),
    Buffer.from(JSON.stringify({ id: "0" })).toString("base64url"),
  ];
  // A user acts within a tenant: on routes that take `tenantId`, it names its home tenant.
  const base = (caller: Credential, env: EnvActors): Record<string, string> =>
    caller.kind === "user" && queryFields.includes("tenantId")
      ? { limit: "100", tenantId: env.tenantId }
      : { limit: "100" };
  const callers = environmentCredentials(w.b, route);
  for (const caller of callers) {
    const plain = await w.call(caller, "GET", route.url, { query: base(caller, w.b) });
    expectStatus(plain, route.response.status, `${caller.label} listing ${route.url}`);
    expectNoNeedles(plain.text, needles, `${caller.label}: GET ${route.url}`);
    for (const field of queryFields) {
      for (const value of values) {
        const res = await w.call(caller, "GET", route.url, { query: { ...base(caller, w.b), [field]: value } });
        const what = `${caller.label}: GET ${route.url}?${field}=${value}`;
        expect(res.status, `${what} answered ${res.status}: ${res.text.slice(0, 300)}`).toBeLessThan(500);
        expectNoNeedles(
          res.text,
          needles.filter((n) => n !== value && !value.includes(n)),
          what,
        );
      }
    }
  }
  for (const caller of environmentCredentials(w.a, route)) {
    const own = await w.call(caller, "GET", route.url, { query: base(caller, w.a) });
    expectStatus(own, route.response.status, `${caller.label} listing ${route.url}`);
    expect(
      needles.some((n) => own.text.includes(n)),
      `positive control: ${caller.label} listing ${route.url} must see some of A's objects: ${own.text.slice(0, 300)}`,
    ).toBe(true);
  }
  logCoverage(log, "list_isolation", plan.key);
}

function expectNoNeedles(text: string, needles: string[], what: string): void {
  const found = needles.filter((n) => text.includes(n));
  expect(found, `${what} returned A's data: ${text.slice(0, 400)}`).toEqual([]);
}

/**
 * checkSmuggledScope (TEN-03): `environmentId`/`tenantId` naming A in the body, the query or
 * `X-Environment-Id`/`X-Tenant-Id` headers, sent with B's credentials, are refused (400 naming
 * the field) or ignored: never a 5xx, never A's object, and nothing of A changes.
 */
export async function checkSmuggledScope(
  w: IsolationWorld,
  plan: RoutePlan,
  registry: IsolationRegistry = ISOLATION_REGISTRY,
  log?: CoverageLog,
): Promise<void> {
  const { route } = plan;
  const objects = await createParams(w, w.a, plan.params, registry);
  const aTenant = await (registry.params.tenantId ?? PARAM_FIXTURES.tenantId)?.(w, w.a, {});
  const ids = idsOf(objects);
  const body = await bodyFor(w, route, ids, registry);
  const smuggled = { environmentId: w.a.environmentId, tenantId: aTenant?.id ?? "ten_unknown" };
  const needles = [w.a.environmentId, smuggled.tenantId, ...Object.values(ids)];
  const plainBody = body === undefined ? {} : { body };
  const variants: Array<{ label: string; options: CallOptions; field: "body" | "query" | "header" }> = [
    ...(route.method === "GET"
      ? []
      : [
          {
            label: "in the body",
            field: "body" as const,
            options: { body: { ...(typeof body === "object" && body !== null ? body : {}), ...smuggled } },
          },
        ]),
    { label: "in the query", field: "query", options: { ...plainBody, query: smuggled } },
    {
      label: "in headers",
      field: "header",
      options: {
        ...plainBody,
        headers: { "x-environment-id": smuggled.environmentId, "x-tenant-id": smuggled.tenantId },
      },
    },
  ];
  const aRows = (snapshot: DbSnapshot) =>
    [...snapshot.values()].flat().filter((row) => needles.some((n) => row.includes(n)));
  for (const variant of variants) {
    // A fresh B credential per call: an ignored smuggle may succeed (log out, revoke), in B only.
    const types = acceptedActorTypes(route);
    const fresh = types !== "none" && types.includes("user") ? await w.newUser(w.b, "smuggler") : w.b.user;
    for (const caller of environmentCredentials(w.b, route, fresh)) {
      const url = fillUrl(route.url, ids);
      const what = `${caller.label} with environmentId/tenantId of A ${variant.label}: ${route.method} ${url}`;
      const before = await w.snapshot();
      const factsBefore = w.captured.length;
      const res = await w.call(caller, route.method, url, variant.options);
      const after = await w.snapshot();
      expect(res.status, `${what} answered ${res.status}: ${res.text.slice(0, 300)}`).toBeLessThan(500);
      const problem = res.json() as { code?: string; errors?: Array<{ path: string }> } | undefined;
      const refused =
        res.status === 400 &&
        (problem?.errors ?? []).some((e) => /(^|\.)(environmentId|tenantId)$/.test(e.path) || e.path === "body");
      if (plan.params.length > 0) {
        expect([400, 404], `${what} reached A's object: ${res.text.slice(0, 300)}`).toContain(res.status);
      }
      if (!refused) {
        expect(
          needles.filter((n) => res.text.includes(n) && !url.includes(n)),
          `${what} answered with A's data`,
        ).toEqual([]);
      }
      expect(aRows(after), `${what} changed A's rows`).toEqual(aRows(before));
      const aFacts = w.captured.slice(factsBefore).filter((f) => f.environmentId === w.a.environmentId);
      expect(
        aFacts.map((f) => f.type),
        `${what} recorded facts in A`,
      ).toEqual([]);
      if (variant.field === "body" && body !== undefined && res.status === 400) {
        expect(refused, `${what} was refused for another reason: ${res.text.slice(0, 300)}`).toBe(true);
      }
    }
  }
  logCoverage(log, "smuggled_scope", plan.key);
}

/**
 * checkFunctionLevel (API5): every credential kind a route does not list is refused with 403
 * (401 without a credential), before anything changes: the admin operator on environment routes,
 * a secret key and an end-user session on operator routes, a session on service routes, and so on.
 */
export async function checkFunctionLevel(
  w: IsolationWorld,
  plan: RoutePlan,
  registry: IsolationRegistry = ISOLATION_REGISTRY,
  log?: CoverageLog,
): Promise<void> {
  const { route } = plan;
  const types = acceptedActorTypes(route);
  if (types === "none") return;
  const ids = await idsForAnyCaller(w, plan, registry);
  const body = await bodyFor(w, route, ids, registry);
  const url = fillUrl(route.url, ids);
  const kinds: Array<{ type: ActorType; credential: Credential }> = [
    { type: "operator", credential: w.admin },
    { type: "service", credential: w.a.key },
    { type: "user", credential: w.a.user },
    { type: "tenant_key", credential: w.a.tenantKey },
    { type: "agent", credential: w.a.agent },
  ];
  for (const { type, credential } of kinds) {
    if (types.includes(type)) continue;
    await expectRefused(w, {
      label: `${credential.label} on a route for ${types.join("/")}`,
      caller: credential,
      method: route.method,
      url,
      body,
      status: 403,
    });
  }
  await expectRefused(w, { label: "no credential", caller: null, method: route.method, url, body, status: 401 });
  logCoverage(log, "function_level", plan.key);
}

async function idsForAnyCaller(
  w: IsolationWorld,
  plan: RoutePlan,
  registry: IsolationRegistry,
): Promise<Record<string, string>> {
  if (isOperatorOnly(plan.route)) {
    const ids: Record<string, string> = {};
    for (const p of plan.params) {
      const fixture = registry.operatorParams[p];
      if (!fixture) throw new Error(`${plan.key}: no operator fixture for :${p}`);
      ids[p] = await fixture(w);
    }
    return ids;
  }
  return idsOf(await createParams(w, w.a, plan.params, registry));
}

/**
 * checkOperatorSupport (API5): a support operator reads every operator-only GET route, and every
 * operator-only mutating route refuses it with 403 and changes nothing (`supportExceptions` aside,
 * which run their own check).
 */
export async function checkOperatorSupport(
  w: IsolationWorld,
  plan: RoutePlan,
  registry: IsolationRegistry = ISOLATION_REGISTRY,
  log?: CoverageLog,
): Promise<void> {
  const { route } = plan;
  const exception = registry.supportExceptions[plan.key];
  if (exception) {
    await exception.check(w, route);
    logCoverage(log, "operator_support", plan.key);
    return;
  }
  const ids = await idsForAnyCaller(w, plan, registry);
  const url = fillUrl(route.url, ids);
  if (route.method === "GET") {
    const res = await w.call(w.support, "GET", url);
    expectStatus(res, route.response.status, `support operator reading ${url}`);
  } else {
    const body = await bodyFor(w, route, ids, registry);
    await expectRefused(w, {
      label: "support operator",
      caller: w.support,
      method: route.method,
      url,
      body,
      status: 403,
    });
  }
  logCoverage(log, "operator_support", plan.key);
}

/** CHECKS maps each check to its runner, for suites that loop over a plan. */
export const CHECKS: Record<
  CheckName,
  (w: IsolationWorld, plan: RoutePlan, registry?: IsolationRegistry, log?: CoverageLog) => Promise<void>
> = {
  cross_environment: checkCrossEnvironment,
  list_isolation: checkListIsolation,
  smuggled_scope: checkSmuggledScope,
  function_level: checkFunctionLevel,
  operator_support: checkOperatorSupport,
};
