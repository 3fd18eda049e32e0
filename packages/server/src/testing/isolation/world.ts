import { randomBytes } from "node:crypto";
import type { Denial } from "../../platform/access.js";
import type { Fact } from "../../platform/facts/index.js";
import { type AnyModule, defineModule } from "../../platform/module.js";
import { type SeededPlane, seedPlane, TEST_PASSWORD } from "../fixtures.js";
import { createTestApp, type EngineName, type TestApp } from "../harness.js";
import { type CreatedObject, expectJson, expectStatus, type IsolationRegistry } from "../module-fixtures.js";
import { fixturesOfApp } from "./registry.js";
import { type Credential, planeModules } from "./route-table.js";
import { changeMark, changesSince, installChangeLog, listTables, type TableDiff } from "./snapshots.js";

/**
 * The world the isolation checks run in: a seeded plane, two environments `a` and `b`, their
 * actors, and the fixtures of every module of the plane (`registry`).
 *
 * Tenants: each environment has a home tenant whose owner is its end user, with a tenant key and an
 * agent key (delegated by that user) bound to it. Objects a tenant route's fixture makes live in a
 * fresh tenant, so the home tenant's key, agent and owner are refused there (404) exactly like
 * another environment's credentials: that is the cross-tenant check of every tenant route.
 */

/** EnvUser: an end user of an environment, with a live session. */
export interface EnvUser extends Credential {
  kind: "user";
  email: string;
  sessionId: string;
}

/** EnvActors: one environment of the world and the credentials that act in it. */
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
  /** operator: the admin operator acting in this environment (`Baseplate-Environment`). */
  operator: Credential;
}

/** CallOptions: what `IsolationWorld.call` sends besides the method, the URL and the credential. */
export interface CallOptions {
  body?: unknown;
  query?: Record<string, string>;
  headers?: Record<string, string>;
}

/** CallResult: a response's status and body. */
export interface CallResult {
  status: number;
  text: string;
  json(): unknown;
}

/** FactRow: a fact as the probe module's sink stored it (committed facts only). */
export interface FactRow {
  id: string;
  type: string;
  environment_id: string | null;
  actor_id: string | null;
  targets: Array<{ type: string; id: string }>;
}

/** IsolationWorld: the seeded plane every check runs in (see `createIsolationWorld`). */
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
  /**
   * denials: every refusal handed to the Authorizer's `denied` hook, as (acting principal, denial).
   * The world keeps them here instead of writing `access.denied` entries, so "a refused call
   * changes nothing" stays exact; test/denials-audit.test.ts covers the entries themselves.
   */
  denials: Array<{ actorId: string | null; tenantId: string | null; denial: Denial }>;
  call(credential: Credential | null, method: string, url: string, options?: CallOptions): Promise<CallResult>;
  /** newUser creates an end user in the environment and logs it in (a fresh session). */
  newUser(env: EnvActors, label?: string): Promise<EnvUser>;
  /** newSupportSession opens a fresh session of the support operator (for checks that end it). */
  newSupportSession(): Promise<Credential>;
  /** mark is the position of the database's change log now (see `changesSince`). */
  mark(): Promise<number>;
  /** changesSince: the rows every table gained and lost since `mark`, netted out (`installChangeLog`). */
  changesSince(mark: number): Promise<TableDiff[]>;
  facts(): Promise<FactRow[]>;
  /** unique returns a short string unique in this world. */
  unique(): string;
  /** registry holds the fixtures of every module of this world's plane (see `fixturesOfApp`). */
  registry: IsolationRegistry;
  /**
   * param creates, in `env`, the object a path parameter names, with the fixture of the module that
   * owns that parameter. Throws when no module of the plane has a fixture for it.
   */
  param(name: string, env: EnvActors, parents?: Record<string, CreatedObject>): Promise<CreatedObject>;
  /** operatorParam creates, as the admin operator, the object a parameter of an operator-only route names. */
  operatorParam(name: string): Promise<string>;
  /**
   * scratchEnvironment creates, as the admin operator, a throwaway project with one environment and
   * one surface of `surfaceKind`: objects a check may archive or break without harming the run.
   */
  scratchEnvironment(surfaceKind?: string): Promise<ScratchEnvironment>;
  close(): Promise<void>;
}

/** ScratchEnvironment: the ids of a throwaway project, its environment and its surface. */
export interface ScratchEnvironment {
  projectId: string;
  environmentId: string;
  surfaceId: string;
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
 * capture and `extraModules`), seeds it (`seedPlane`), loads the fixtures of its modules
 * (`fixturesOfApp`: throws when two modules claim the same fixture), and gives each environment an
 * end user with a session and a second user. Close it with `close()`.
 */
export async function createIsolationWorld(
  engine: EngineName,
  options: { extraModules?: AnyModule[] } = {},
): Promise<IsolationWorld> {
  const captured: Fact[] = [];
  const denials: IsolationWorld["denials"] = [];
  const t = await createTestApp(engine, {
    modules: planeModules([factCaptureModule(captured), ...(options.extraModules ?? [])]),
  });
  t.app.access.use({
    denied: async (ctx, denial) =>
      void denials.push({ actorId: ctx.principal?.actorId ?? null, tenantId: ctx.principal?.tenantId ?? null, denial }),
  });
  try {
    // "A refused call changes nothing" is read from a change log, not from full snapshots.
    await installChangeLog(t, await listTables(t));
    const plane = await seedPlane(t);
    const { isolation: registry } = await fixturesOfApp(t.app);
    const secrets = new Set<string>([TEST_PASSWORD, plane.operatorToken, plane.supportToken]);
    let counter = 0;
    const unique = () => `${++counter}${randomBytes(3).toString("hex")}`;

    const call: IsolationWorld["call"] = async (credential, method, url, options = {}) => {
      const headers: Record<string, string> = { ...options.headers };
      if (credential) {
        headers.authorization = `Bearer ${credential.token}`;
        if (credential.environmentId) headers["baseplate-environment"] = credential.environmentId;
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
      denials,
      admin: { kind: "admin", token: plane.operatorToken, actorId: plane.operatorId, label: "admin operator" },
      support: { kind: "support", token: plane.supportToken, actorId: "", label: "support operator" },
      a: undefined as unknown as EnvActors,
      b: undefined as unknown as EnvActors,
      call,
      unique,
      registry,
      param(name, env, parents = {}) {
        const fixture = registry.params[name];
        if (!fixture) throw new Error(`No fixture for path parameter :${name}`);
        return fixture(world, env, parents);
      },
      operatorParam(name) {
        const fixture = registry.operatorParams[name];
        if (!fixture) throw new Error(`No operator fixture for path parameter :${name}`);
        return fixture(world);
      },
      async scratchEnvironment(surfaceKind = "api") {
        const project = await expectJson(
          await call(world.admin, "POST", "/v1/projects", { body: { name: `Scratch ${unique()}` } }),
          201,
          "creating a scratch project",
        );
        const env = await expectJson(
          await call(world.admin, "POST", `/v1/projects/${project.id}/environments`, { body: { name: "Scratch" } }),
          201,
          "creating a scratch environment",
        );
        const surface = await expectJson(
          await call(world.admin, "POST", `/v1/environments/${env.id}/surfaces`, {
            body: { name: "Scratch", kind: surfaceKind },
          }),
          201,
          "creating a scratch surface",
        );
        return {
          projectId: project.id as string,
          environmentId: env.id as string,
          surfaceId: surface.id as string,
        };
      },
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
      mark: () => changeMark(t),
      changesSince: (mark) => changesSince(t, mark),
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
        operator: {
          kind: "admin",
          token: plane.operatorToken,
          actorId: plane.operatorId,
          environmentId: seeded.id,
          label: `the admin operator acting in ${name.toUpperCase()}`,
        },
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
  const k = key.json() as { token: string; id: string };
  env.tenantKey = {
    kind: "tenant_key",
    token: k.token,
    actorId: k.id,
    label: `${env.name.toUpperCase()}'s tenant key`,
  };
  const agent = await w.call(env.key, "POST", `/v1/tenants/${env.tenantId}/agent-keys`, {
    body: { name: `home agent ${env.marker}`, scopes: ["*"], userId: env.user.actorId },
  });
  expectStatus(agent, 201, `creating ${env.name}'s agent key`);
  const a = agent.json() as { token: string; id: string };
  env.agent = { kind: "agent", token: a.token, actorId: a.id, label: `${env.name.toUpperCase()}'s agent key` };
  w.secrets.add(k.token);
  w.secrets.add(a.token);
}
