import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { MODULES } from "../../app.js";
import type { Fact } from "../../platform/facts/index.js";
import { type SeededPlane, seedPlane, TEST_PASSWORD } from "../../testing/fixtures.js";
import { createTestApp, describeEachEngine, type TestApp } from "../../testing/harness.js";
import { factCaptureModule } from "../../testing/isolation.js";
import { probeModule } from "../../testing/probe-module.js";

// Tenancy through HTTP: projects, environments and surfaces with the admin operator token,
// tenants with an environment's secret key. Every mutation asserts the fact it records (type,
// actor, environment, targets) and every refusal asserts that it recorded none.

type Json = Record<string, unknown>;
interface Res {
  status: number;
  body: Json;
}
interface FactRow {
  type: string;
  actor_id: string | null;
  environment_id: string | null;
  targets: Array<{ type: string; id: string }>;
}

describeEachEngine("tenancy", (engine) => {
  let t: TestApp;
  let p: SeededPlane;
  let captured: Fact[];
  let seen: Set<string>;

  beforeEach(async () => {
    captured = [];
    t = await createTestApp(engine, {
      modules: [...MODULES, probeModule, factCaptureModule(captured)],
    });
    p = await seedPlane(t);
    seen = new Set((await factRows()).map((f) => f.id));
  });
  afterEach(async () => t.close());

  async function call(token: string | null, method: string, url: string, body?: unknown): Promise<Res> {
    const res = await t.inject({
      method: method as "GET",
      url,
      headers: token ? { authorization: `Bearer ${token}` } : {},
      ...(body !== undefined ? { payload: body as object } : {}),
    });
    return { status: res.statusCode, body: res.body ? (JSON.parse(res.body) as Json) : {} };
  }
  const admin = (method: string, url: string, body?: unknown) => call(p.operatorToken, method, url, body);
  const keyA = (method: string, url: string, body?: unknown) => call(p.a.secretKey, method, url, body);
  const keyB = (method: string, url: string, body?: unknown) => call(p.b.secretKey, method, url, body);

  async function factRows(): Promise<Array<FactRow & { id: string }>> {
    const rows = await t.app.db.kysely.selectFrom("probe_fact").selectAll().orderBy("id").execute();
    return rows.map((r) => ({
      id: r.id as string,
      type: r.type as string,
      actor_id: r.actor_id as string | null,
      environment_id: r.environment_id as string | null,
      targets: JSON.parse(r.targets as string) as FactRow["targets"],
    }));
  }

  /** newFacts returns the facts committed since the last call (without ids), with their captured data. */
  async function newFacts(): Promise<Array<FactRow & { data: Json; changes: Fact["changes"] }>> {
    const fresh = (await factRows()).filter((f) => !seen.has(f.id));
    for (const f of fresh) seen.add(f.id);
    return fresh.map(({ id, ...row }) => {
      const full = captured.find((c) => c.id === id);
      return { ...row, data: full?.data ?? {}, changes: full?.changes ?? null };
    });
  }

  /** expectFacts asserts exactly these facts were committed since the last check. */
  async function expectFacts(expected: Array<FactRow & { data?: Json; changes?: Fact["changes"] }>): Promise<void> {
    const got = await newFacts();
    expect(got).toEqual(
      expected.map((e) => ({
        ...e,
        data: e.data ?? expect.anything(),
        changes: e.changes === undefined ? expect.toSatisfy(() => true) : e.changes,
      })),
    );
  }
  const expectNoFacts = () => expectFacts([]);

  function expectProblem(res: Res, status: number, code: string, path?: string): void {
    expect(res.status, JSON.stringify(res.body)).toBe(status);
    expect(res.body.code).toBe(code);
    if (path) expect((res.body.errors as Array<{ path: string }>).map((e) => e.path)).toContain(path);
  }

  async function newProject(name = "Acme Suite!"): Promise<Json> {
    const res = await admin("POST", "/v1/projects", { name });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body;
  }
  async function newEnvironment(projectId: string, name = "Staging"): Promise<Json> {
    const res = await admin("POST", `/v1/projects/${projectId}/environments`, { name });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body;
  }
  async function newSurface(environmentId: string, body: Json = {}): Promise<Json> {
    const res = await admin("POST", `/v1/environments/${environmentId}/surfaces`, {
      name: "Portal",
      kind: "web",
      ...body,
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body;
  }
  async function newKey(environmentId: string, surfaceId: string, scopes: string[] = ["*"]): Promise<string> {
    const res = await admin("POST", `/v1/environments/${environmentId}/secret-keys`, {
      surfaceId,
      name: "backend",
      scopes,
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body.token as string;
  }
  async function newSession(environmentId: string, surfaceId: string, key: string): Promise<string> {
    const email = `someone-${Math.random().toString(36).slice(2)}@example.com`;
    expect((await call(key, "POST", "/v1/users", { email, password: TEST_PASSWORD })).status).toBe(201);
    const login = await call(null, "POST", "/v1/auth/login", { surfaceId, email, password: TEST_PASSWORD });
    expect(login.status, JSON.stringify(login.body)).toBe(201);
    expect((login.body.user as Json).environmentId).toBe(environmentId);
    return login.body.token as string;
  }

  describe("projects", () => {
    it("creates a project, deriving the slug from the name", async () => {
      const project = await newProject("Acme Suite!");
      expect(project).toMatchObject({ name: "Acme Suite!", slug: "acme-suite", archivedAt: null });
      expect(project.id).toMatch(/^prj_/);
      await expectFacts([
        {
          type: "project.created",
          actor_id: p.operatorId,
          environment_id: null,
          targets: [{ type: "project", id: project.id as string }],
          data: { name: "Acme Suite!", slug: "acme-suite" },
        },
      ]);
      const explicit = await admin("POST", "/v1/projects", { name: "Beta", slug: "beta-2" });
      expect(explicit.body.slug).toBe("beta-2");
      await expectFacts([
        {
          type: "project.created",
          actor_id: p.operatorId,
          environment_id: null,
          targets: [{ type: "project", id: explicit.body.id as string }],
          data: { name: "Beta", slug: "beta-2" },
        },
      ]);
    });

    it("refuses a taken slug, given or derived, with 409 project_slug_taken", async () => {
      await newProject("Acme Suite");
      await newFacts();
      expectProblem(
        await admin("POST", "/v1/projects", { name: "Other", slug: "acme-suite" }),
        409,
        "project_slug_taken",
      );
      expectProblem(await admin("POST", "/v1/projects", { name: "ACME  suite" }), 409, "project_slug_taken");
      await expectNoFacts();
    });

    it("refuses malformed slugs and names with 400", async () => {
      for (const body of [
        { name: "x", slug: "Bad Slug" },
        { name: "x", slug: "-leading" },
        { name: "x", slug: "trailing-" },
        { name: "x", slug: "a".repeat(65) },
        { name: "" },
        { name: "   " },
        { name: "x".repeat(201) },
        { name: "x", extra: true },
      ]) {
        expect((await admin("POST", "/v1/projects", body)).status, JSON.stringify(body)).toBe(400);
      }
      await expectNoFacts();
    });

    it("gets, lists and updates a project, recording the change", async () => {
      const project = await newProject();
      const id = project.id as string;
      await newFacts();
      expect((await admin("GET", `/v1/projects/${id}`)).body).toEqual(project);
      const list = await admin("GET", "/v1/projects");
      expect((list.body.data as Json[]).map((x) => x.id)).toEqual([p.projectId, id]);

      const updated = await admin("PATCH", `/v1/projects/${id}`, { name: "Renamed" });
      expect(updated.status).toBe(200);
      expect(updated.body).toMatchObject({ name: "Renamed", slug: "acme-suite" });
      await expectFacts([
        {
          type: "project.updated",
          actor_id: p.operatorId,
          environment_id: null,
          targets: [{ type: "project", id }],
          changes: { before: { name: "Acme Suite!" }, after: { name: "Renamed" } },
        },
      ]);
      expect((await admin("PATCH", `/v1/projects/${id}`, { name: "Renamed" })).status).toBe(200);
      await expectNoFacts();
      expectProblem(await admin("GET", "/v1/projects/prj_missing"), 404, "project_not_found");
      expectProblem(await admin("PATCH", "/v1/projects/prj_missing", { name: "x" }), 404, "project_not_found");
      expectProblem(
        await admin("PATCH", `/v1/projects/${id}`, { slug: "new-slug" }),
        400,
        "validation_failed",
        "body.slug",
      );
    });

    it("archives a project: its environments' keys stop at once, and it refuses updates and environments", async () => {
      expect((await keyA("GET", "/v1/tenants")).status).toBe(200);
      const archived = await admin("POST", `/v1/projects/${p.projectId}/archive`);
      expect(archived.status).toBe(200);
      expect(archived.body.archivedAt).toEqual(expect.any(String));
      await expectFacts([
        {
          type: "project.archived",
          actor_id: p.operatorId,
          environment_id: null,
          targets: [{ type: "project", id: p.projectId }],
        },
      ]);
      expectProblem(await keyA("GET", "/v1/tenants"), 401, "invalid_credentials");
      expectProblem(await keyB("GET", "/v1/tenants"), 401, "invalid_credentials");
      expectProblem(await admin("PATCH", `/v1/projects/${p.projectId}`, { name: "x" }), 409, "archived");
      expectProblem(await admin("POST", `/v1/projects/${p.projectId}/environments`, { name: "New" }), 409, "archived");
      expect((await admin("POST", `/v1/projects/${p.projectId}/archive`)).status).toBe(200);
      await expectNoFacts();

      expect(((await admin("GET", "/v1/projects")).body.data as Json[]).map((x) => x.id)).toEqual([]);
      expect(((await admin("GET", "/v1/projects?archived=true")).body.data as Json[]).map((x) => x.id)).toEqual([
        p.projectId,
      ]);
    });
  });

  describe("environments", () => {
    it("creates environments with a slug unique in their project", async () => {
      const project = await newProject();
      await newFacts();
      const env = await newEnvironment(project.id as string, "Staging EU");
      expect(env).toMatchObject({
        projectId: project.id,
        name: "Staging EU",
        slug: "staging-eu",
        production: false,
        archivedAt: null,
      });
      await expectFacts([
        {
          type: "environment.created",
          actor_id: p.operatorId,
          environment_id: env.id as string,
          targets: [
            { type: "environment", id: env.id as string },
            { type: "project", id: project.id as string },
          ],
          data: { name: "Staging EU", slug: "staging-eu", production: false },
        },
      ]);
      expectProblem(
        await admin("POST", `/v1/projects/${project.id}/environments`, { name: "Other", slug: "staging-eu" }),
        409,
        "environment_slug_taken",
      );
      expectProblem(
        await admin("POST", `/v1/projects/${project.id}/environments`, { name: "staging eu" }),
        409,
        "environment_slug_taken",
      );
      await expectNoFacts();
      // The production flag: by slug unless told, and told either way.
      for (const [body, production] of [
        [{ name: "Production" }, true],
        [{ name: "Live", slug: "live" }, true],
        [{ name: "Prod", slug: "prod", production: false }, false],
        [{ name: "Main", production: true }, true],
      ] as const) {
        const made = await admin("POST", `/v1/projects/${project.id}/environments`, body);
        expect(made.status).toBe(201);
        expect(made.body.production).toBe(production);
      }
      expectProblem(
        await admin("POST", `/v1/projects/${project.id}/environments`, { name: "X", production: "yes" }),
        400,
        "validation_failed",
        "body.production",
      );
      await newFacts();
      // The same slug in another project is fine.
      const other = await admin("POST", `/v1/projects/${p.projectId}/environments`, { name: "Staging EU" });
      expect(other.status).toBe(201);
      await expectFacts([
        {
          type: "environment.created",
          actor_id: p.operatorId,
          environment_id: other.body.id as string,
          targets: [
            { type: "environment", id: other.body.id as string },
            { type: "project", id: p.projectId },
          ],
          data: { name: "Staging EU", slug: "staging-eu", production: false },
        },
      ]);
      expectProblem(
        await admin("POST", "/v1/projects/prj_missing/environments", { name: "x" }),
        404,
        "project_not_found",
      );
    });

    it("gets, lists and updates an environment", async () => {
      expect((await admin("GET", `/v1/environments/${p.a.id}`)).body).toMatchObject({ id: p.a.id, slug: "env-a" });
      const list = await admin("GET", `/v1/projects/${p.projectId}/environments`);
      expect((list.body.data as Json[]).map((e) => e.id)).toEqual([p.a.id, p.b.id]);
      const updated = await admin("PATCH", `/v1/environments/${p.a.id}`, { name: "Production" });
      expect(updated.body).toMatchObject({ name: "Production", slug: "env-a" });
      await expectFacts([
        {
          type: "environment.updated",
          actor_id: p.operatorId,
          environment_id: p.a.id,
          targets: [{ type: "environment", id: p.a.id }],
          changes: { before: { name: "Env A" }, after: { name: "Production" } },
        },
      ]);
      expectProblem(await admin("GET", "/v1/environments/env_missing"), 404, "environment_not_found");
    });

    it("archives an environment: its keys and sessions answer 401 at once, the other environment keeps working", async () => {
      const session = await newSession(p.a.id, p.a.surfaceId, p.a.secretKey);
      expect((await keyA("GET", "/v1/tenants")).status).toBe(200);
      expect((await call(session, "GET", "/v1/auth/me")).status).toBe(200);
      await newFacts();

      const archived = await admin("POST", `/v1/environments/${p.a.id}/archive`);
      expect(archived.status).toBe(200);
      expect(archived.body.archivedAt).toEqual(expect.any(String));
      await expectFacts([
        {
          type: "environment.archived",
          actor_id: p.operatorId,
          environment_id: p.a.id,
          targets: [{ type: "environment", id: p.a.id }],
        },
      ]);
      expectProblem(await keyA("GET", "/v1/tenants"), 401, "invalid_credentials");
      expectProblem(await call(session, "GET", "/v1/auth/me"), 401, "invalid_credentials");
      expect((await keyB("GET", "/v1/tenants")).status).toBe(200);

      expectProblem(await admin("PATCH", `/v1/environments/${p.a.id}`, { name: "x" }), 409, "archived");
      expectProblem(
        await admin("POST", `/v1/environments/${p.a.id}/surfaces`, { name: "x", kind: "web" }),
        409,
        "archived",
      );
      expect((await admin("POST", `/v1/environments/${p.a.id}/archive`)).status).toBe(200);
      await expectNoFacts();
      const active = await admin("GET", `/v1/projects/${p.projectId}/environments`);
      expect((active.body.data as Json[]).map((e) => e.id)).toEqual([p.b.id]);
    });
  });

  describe("surfaces", () => {
    it("registers a surface with its kind, allowed origins, scope ceiling and sign-up setting", async () => {
      const surface = await newSurface(p.a.id, {
        name: "Partner API",
        kind: "api",
        allowedOrigins: ["https://app.example.com", "http://localhost:3000"],
        scopeCeiling: ["tenants:read", "users:*", "*:read"],
        selfSignup: true,
      });
      expect(surface).toMatchObject({
        environmentId: p.a.id,
        name: "Partner API",
        kind: "api",
        allowedOrigins: ["https://app.example.com", "http://localhost:3000"],
        scopeCeiling: ["tenants:read", "users:*", "*:read"],
        selfSignup: true,
        archivedAt: null,
      });
      expect(surface.id).toMatch(/^srf_/);
      await expectFacts([
        {
          type: "surface.created",
          actor_id: p.operatorId,
          environment_id: p.a.id,
          targets: [{ type: "surface", id: surface.id as string }],
          data: {
            name: "Partner API",
            kind: "api",
            allowedOrigins: ["https://app.example.com", "http://localhost:3000"],
            scopeCeiling: ["tenants:read", "users:*", "*:read"],
            selfSignup: true,
          },
        },
      ]);
      expect((await admin("GET", `/v1/surfaces/${surface.id}`)).body).toEqual(surface);
      const defaults = await newSurface(p.a.id, { name: "Agent", kind: "agent" });
      expect(defaults).toMatchObject({ allowedOrigins: [], scopeCeiling: ["*"], selfSignup: false });
      const list = await admin("GET", `/v1/environments/${p.a.id}/surfaces`);
      expect((list.body.data as Json[]).map((s) => s.id)).toEqual([p.a.surfaceId, surface.id, defaults.id]);
      expectProblem(await admin("GET", "/v1/environments/env_missing/surfaces"), 404, "environment_not_found");
    });

    it("refuses a bad kind, origins that are not origins and scope patterns that are not permissions", async () => {
      const url = `/v1/environments/${p.a.id}/surfaces`;
      expectProblem(await admin("POST", url, { name: "x", kind: "mobile" }), 400, "validation_failed", "body.kind");
      for (const origin of [
        "https://app.example.com/path",
        "https://app.example.com/",
        "app.example.com",
        "ftp://app.example.com",
        "https://app.example.com?x=1",
        "*",
      ]) {
        expectProblem(
          await admin("POST", url, { name: "x", kind: "web", allowedOrigins: ["https://ok.example.com", origin] }),
          400,
          "validation_failed",
          "body.allowedOrigins.1",
        );
      }
      for (const permission of [
        "tenants",
        "Tenants:read",
        "tenants:read:all",
        "tenants:",
        ":read",
        "**",
        "tenants:*x",
      ]) {
        expectProblem(
          await admin("POST", url, { name: "x", kind: "web", scopeCeiling: ["users:read", permission] }),
          400,
          "validation_failed",
          "body.scopeCeiling.1",
        );
      }
      expectProblem(
        await admin("PATCH", `/v1/surfaces/${p.a.surfaceId}`, { allowedOrigins: ["https://x.example.com/a"] }),
        400,
        "validation_failed",
        "body.allowedOrigins.0",
      );
      expectProblem(
        await admin("PATCH", `/v1/surfaces/${p.a.surfaceId}`, { kind: "api" }),
        400,
        "validation_failed",
        "body.kind",
      );
      await expectNoFacts();
    });

    it("lets end users sign up only through a surface with self sign-up on", async () => {
      const surface = await newSurface(p.a.id, { name: "Closed", kind: "web" });
      await newFacts();
      const signup = { surfaceId: surface.id, email: "new@example.com", password: TEST_PASSWORD };
      expectProblem(await call(null, "POST", "/v1/auth/signup", signup), 403, "self_signup_disabled");
      const updated = await admin("PATCH", `/v1/surfaces/${surface.id}`, { selfSignup: true });
      expect(updated.body.selfSignup).toBe(true);
      await expectFacts([
        {
          type: "surface.updated",
          actor_id: p.operatorId,
          environment_id: p.a.id,
          targets: [{ type: "surface", id: surface.id as string }],
          changes: { before: { selfSignup: false }, after: { selfSignup: true } },
        },
      ]);
      const signedUp = await call(null, "POST", "/v1/auth/signup", signup);
      expect(signedUp.status).toBe(201);
      const user = signedUp.body.user as Json;
      const session = signedUp.body.session as Json;
      expect(user.environmentId).toBe(p.a.id);
      await expectFacts([
        {
          type: "user.signed_up",
          actor_id: user.id as string,
          environment_id: p.a.id,
          targets: [{ type: "user", id: user.id as string }],
        },
        {
          type: "user.logged_in",
          actor_id: user.id as string,
          environment_id: p.a.id,
          targets: [
            { type: "user", id: user.id as string },
            { type: "session", id: session.id as string },
          ],
        },
      ]);
    });

    it("caps what keys of a surface can do by its scope ceiling, and a narrower ceiling applies at once", async () => {
      const surface = await newSurface(p.a.id, { name: "Tenants only", kind: "api", scopeCeiling: ["tenants:*"] });
      const refused = await admin("POST", `/v1/environments/${p.a.id}/secret-keys`, {
        surfaceId: surface.id,
        name: "too wide",
        scopes: ["*"],
      });
      expectProblem(refused, 422, "scope_exceeds_ceiling");
      const key = await newKey(p.a.id, surface.id as string, ["tenants:*"]);
      expect((await call(key, "POST", "/v1/tenants", { name: "Acme" })).status).toBe(201);
      expect((await call(key, "GET", "/v1/users")).status).toBe(403);
      await newFacts();
      await admin("PATCH", `/v1/surfaces/${surface.id}`, { scopeCeiling: ["tenants:read"] });
      await expectFacts([
        {
          type: "surface.updated",
          actor_id: p.operatorId,
          environment_id: p.a.id,
          targets: [{ type: "surface", id: surface.id as string }],
          changes: { before: { scopeCeiling: ["tenants:*"] }, after: { scopeCeiling: ["tenants:read"] } },
        },
      ]);
      expectProblem(await call(key, "POST", "/v1/tenants", { name: "Beta" }), 403, "forbidden");
      expect((await call(key, "GET", "/v1/tenants")).status).toBe(200);
    });

    it("archives a surface: keys and sessions issued to it stop at once, other surfaces keep working", async () => {
      const surface = await newSurface(p.a.id, { name: "Doomed", kind: "web" });
      const key = await newKey(p.a.id, surface.id as string);
      const session = await newSession(p.a.id, surface.id as string, key);
      expect((await call(key, "GET", "/v1/tenants")).status).toBe(200);
      expect((await call(session, "GET", "/v1/auth/me")).status).toBe(200);
      await newFacts();

      const archived = await admin("POST", `/v1/surfaces/${surface.id}/archive`);
      expect(archived.status).toBe(200);
      expect(archived.body.archivedAt).toEqual(expect.any(String));
      await expectFacts([
        {
          type: "surface.archived",
          actor_id: p.operatorId,
          environment_id: p.a.id,
          targets: [{ type: "surface", id: surface.id as string }],
        },
      ]);
      expectProblem(await call(key, "GET", "/v1/tenants"), 401, "invalid_credentials");
      expectProblem(await call(session, "GET", "/v1/auth/me"), 401, "invalid_credentials");
      expect((await keyA("GET", "/v1/tenants")).status).toBe(200);
      expectProblem(await admin("PATCH", `/v1/surfaces/${surface.id}`, { name: "x" }), 409, "archived");
      expectProblem(
        await call(null, "POST", "/v1/auth/login", {
          surfaceId: surface.id,
          email: "x@example.com",
          password: TEST_PASSWORD,
        }),
        404,
        "surface_not_found",
      );
      expect((await admin("POST", `/v1/surfaces/${surface.id}/archive`)).status).toBe(200);
      await expectNoFacts();
      const list = await admin("GET", `/v1/environments/${p.a.id}/surfaces`);
      expect((list.body.data as Json[]).map((s) => s.id)).toEqual([p.a.surfaceId]);
    });
  });

  describe("tenants", () => {
    it("creates a tenant with a secret key, deriving the slug, and records who did it", async () => {
      const res = await keyA("POST", "/v1/tenants", {
        name: "Acme Corp",
        externalId: "cus_123",
        metadata: { plan: "gold", seats: 12 },
      });
      expect(res.status).toBe(201);
      expect(res.body).toMatchObject({
        environmentId: p.a.id,
        name: "Acme Corp",
        slug: "acme-corp",
        externalId: "cus_123",
        metadata: { plan: "gold", seats: 12 },
        state: "active",
        stateReason: null,
      });
      expect(res.body.id).toMatch(/^ten_/);
      await expectFacts([
        {
          type: "tenant.created",
          actor_id: p.a.secretKeyId,
          environment_id: p.a.id,
          targets: [{ type: "tenant", id: res.body.id as string }],
          data: { name: "Acme Corp", slug: "acme-corp", externalId: "cus_123" },
        },
      ]);
      expect((await keyA("GET", `/v1/tenants/${res.body.id}`)).body).toEqual(res.body);
    });

    it("keeps slugs and external ids unique per environment", async () => {
      expect((await keyA("POST", "/v1/tenants", { name: "Acme", externalId: "cus_1" })).status).toBe(201);
      await newFacts();
      expectProblem(await keyA("POST", "/v1/tenants", { name: "Acme" }), 409, "tenant_slug_taken");
      expectProblem(await keyA("POST", "/v1/tenants", { name: "Other", slug: "acme" }), 409, "tenant_slug_taken");
      expectProblem(
        await keyA("POST", "/v1/tenants", { name: "Other", externalId: "cus_1" }),
        409,
        "tenant_external_id_taken",
      );
      await expectNoFacts();
      const inB = await keyB("POST", "/v1/tenants", { name: "Acme", externalId: "cus_1" });
      expect(inB.status).toBe(201);
      expect(inB.body).toMatchObject({ environmentId: p.b.id, slug: "acme", externalId: "cus_1" });
      await expectFacts([
        {
          type: "tenant.created",
          actor_id: p.b.secretKeyId,
          environment_id: p.b.id,
          targets: [{ type: "tenant", id: inB.body.id as string }],
          data: { name: "Acme", slug: "acme", externalId: "cus_1" },
        },
      ]);
      // Tenants without an external id do not collide.
      expect((await keyA("POST", "/v1/tenants", { name: "No ext 1" })).status).toBe(201);
      expect((await keyA("POST", "/v1/tenants", { name: "No ext 2" })).status).toBe(201);
    });

    it("bounds metadata at 8 KB of JSON", async () => {
      const sized = (bytes: number) => {
        const base = JSON.stringify({ blob: "" }).length;
        return { blob: "x".repeat(bytes - base) };
      };
      expect(Buffer.byteLength(JSON.stringify(sized(8192)))).toBe(8192);
      expect((await keyA("POST", "/v1/tenants", { name: "Fits", metadata: sized(8192) })).status).toBe(201);
      await newFacts();
      expectProblem(
        await keyA("POST", "/v1/tenants", { name: "Too big", metadata: sized(8193) }),
        400,
        "validation_failed",
        "body.metadata",
      );
      expectProblem(
        await keyA("POST", "/v1/tenants", { name: "Not an object", metadata: ["x"] }),
        400,
        "validation_failed",
        "body.metadata",
      );
      await expectNoFacts();
    });

    it("lists tenants page by page with a cursor", async () => {
      const ids: string[] = [];
      for (const name of ["T1", "T2", "T3", "T4", "T5"])
        ids.push((await keyA("POST", "/v1/tenants", { name })).body.id as string);
      const inB = (await keyB("POST", "/v1/tenants", { name: "In B" })).body.id as string;
      await expectFacts([
        ...ids.map((id) => ({
          type: "tenant.created",
          actor_id: p.a.secretKeyId,
          environment_id: p.a.id,
          targets: [{ type: "tenant", id }],
        })),
        {
          type: "tenant.created",
          actor_id: p.b.secretKeyId,
          environment_id: p.b.id,
          targets: [{ type: "tenant", id: inB }],
        },
      ]);
      const seenIds: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const res: Res = await keyA("GET", `/v1/tenants?limit=2${cursor ? `&cursor=${cursor}` : ""}`);
        expect(res.status).toBe(200);
        const data = res.body.data as Json[];
        expect(data.length).toBeLessThanOrEqual(2);
        seenIds.push(...data.map((x) => x.id as string));
        cursor = res.body.nextCursor as string | null;
        pages++;
      } while (cursor && pages < 10);
      expect(pages).toBe(3);
      expect(seenIds).toEqual(ids);
      expectProblem(await keyA("GET", "/v1/tenants?cursor=not-a-cursor"), 400, "invalid_cursor");
      expectProblem(await keyA("GET", "/v1/tenants?limit=101"), 400, "validation_failed", "query.limit");
    });

    it("searches name, slug and external id case-insensitively with q, within the environment", async () => {
      const acme = (await keyA("POST", "/v1/tenants", { name: "Acme Corp", slug: "acme", externalId: "CUS-Alpha" }))
        .body;
      const globex = (
        await keyA("POST", "/v1/tenants", { name: "Globex", slug: "gx-industries", externalId: "cus-beta" })
      ).body;
      await keyB("POST", "/v1/tenants", { name: "Acme Corp B", externalId: "cus-alpha" });
      const search = async (q: string) =>
        ((await keyA("GET", `/v1/tenants?q=${encodeURIComponent(q)}`)).body.data as Json[]).map((x) => x.id);
      expect(await search("ACME")).toEqual([acme.id]);
      expect(await search("corp")).toEqual([acme.id]);
      expect(await search("industries")).toEqual([globex.id]);
      expect(await search("cus-ALPHA")).toEqual([acme.id]);
      expect(await search("CUS-")).toEqual([acme.id, globex.id]);
      expect(await search("nothing")).toEqual([]);
      expectProblem(await keyA("GET", "/v1/tenants?q="), 400, "validation_failed", "query.q");
    });

    it("filters by state and by exact external id", async () => {
      const acme = (await keyA("POST", "/v1/tenants", { name: "Acme", externalId: "cus_1" })).body;
      const beta = (await keyA("POST", "/v1/tenants", { name: "Beta", externalId: "cus_10" })).body;
      const ids = async (query: string) =>
        ((await keyA("GET", `/v1/tenants?${query}`)).body.data as Json[]).map((x) => x.id);
      expect(await ids("state=active")).toEqual([acme.id, beta.id]);
      expect(await ids("externalId=cus_1")).toEqual([acme.id]);
      expect(await ids("externalId=CUS_1")).toEqual([]);
      expect(await ids("state=active&externalId=cus_10")).toEqual([beta.id]);
      expectProblem(await keyA("GET", "/v1/tenants?state=deleted"), 400, "validation_failed", "query.state");
      expectProblem(await keyA("GET", "/v1/tenants?environmentId=x"), 400, "validation_failed", "query.environmentId");
    });

    it("updates a tenant, recording only the fields that changed, before and after", async () => {
      const tenant = (await keyA("POST", "/v1/tenants", { name: "Acme", externalId: "cus_1", metadata: { a: 1 } }))
        .body;
      const id = tenant.id as string;
      await keyA("POST", "/v1/tenants", { name: "Taken", externalId: "cus_taken" });
      await newFacts();

      const res = await keyA("PATCH", `/v1/tenants/${id}`, { name: "Acme Inc", metadata: { a: 2 }, slug: "acme" });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ name: "Acme Inc", slug: "acme", externalId: "cus_1", metadata: { a: 2 } });
      await expectFacts([
        {
          type: "tenant.updated",
          actor_id: p.a.secretKeyId,
          environment_id: p.a.id,
          targets: [{ type: "tenant", id }],
          changes: { before: { name: "Acme", metadata: { a: 1 } }, after: { name: "Acme Inc", metadata: { a: 2 } } },
        },
      ]);
      expect((await keyA("GET", `/v1/tenants/${id}`)).body).toEqual(res.body);

      expect((await keyA("PATCH", `/v1/tenants/${id}`, { name: "Acme Inc" })).status).toBe(200);
      await expectNoFacts();

      expectProblem(await keyA("PATCH", `/v1/tenants/${id}`, { slug: "taken" }), 409, "tenant_slug_taken");
      expectProblem(
        await keyA("PATCH", `/v1/tenants/${id}`, { externalId: "cus_taken" }),
        409,
        "tenant_external_id_taken",
      );
      await expectNoFacts();

      const cleared = await keyA("PATCH", `/v1/tenants/${id}`, { externalId: null });
      expect(cleared.body.externalId).toBeNull();
      await expectFacts([
        {
          type: "tenant.updated",
          actor_id: p.a.secretKeyId,
          environment_id: p.a.id,
          targets: [{ type: "tenant", id }],
          changes: { before: { externalId: "cus_1" }, after: { externalId: null } },
        },
      ]);
      expectProblem(await keyA("PATCH", "/v1/tenants/ten_missing", { name: "x" }), 404, "tenant_not_found");
      expectProblem(
        await keyA("PATCH", `/v1/tenants/${id}`, { state: "suspended" }),
        400,
        "validation_failed",
        "body.state",
      );
    });

    it("refuses metadata keys that look like credentials with 400 (metadata changes are audited, facts carry no secrets)", async () => {
      const tenant = (await keyA("POST", "/v1/tenants", { name: "Beta", metadata: { plan: "gold" } })).body;
      await newFacts();
      for (const [metadata, path] of [
        [{ apiToken: "abc" }, "body.metadata.apiToken"],
        [{ plan: "gold", password: "hunter2" }, "body.metadata.password"],
        [{ integrations: { stripe: { secret: "sk" } } }, "body.metadata.integrations.stripe.secret"],
        [{ list: [{ ok: 1 }, { api_key: "k" }] }, "body.metadata.list.1.api_key"],
      ] as const) {
        expectProblem(await keyA("POST", "/v1/tenants", { name: "Acme", metadata }), 400, "validation_failed", path);
        expectProblem(await keyA("PATCH", `/v1/tenants/${tenant.id}`, { metadata }), 400, "validation_failed", path);
      }
      await expectNoFacts();
      // Keys that merely mention a credential word are fine.
      const ok = await keyA("PATCH", `/v1/tenants/${tenant.id}`, {
        metadata: { tokenCount: 3, passwordPolicy: "strict" },
      });
      expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    });

    it("is only for environment credentials", async () => {
      expectProblem(await admin("POST", "/v1/tenants", { name: "Acme" }), 403, "forbidden");
      expectProblem(await admin("GET", "/v1/tenants"), 403, "forbidden");
      expectProblem(await call(null, "GET", "/v1/tenants"), 401, "unauthenticated");
      await expectNoFacts();
    });
  });
});
