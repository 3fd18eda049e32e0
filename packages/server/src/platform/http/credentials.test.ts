import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { createTestApp, describeEachEngine, type TestApp } from "../../testing/harness.js";
import { generateToken } from "../crypto.js";
import { AppError, defineErrors } from "../errors.js";
import type { Principal, RequestInfo } from "../principal.js";
import { type CredentialResolver, CredentialResolvers } from "./credentials.js";

// DESIGN.md §2 (one principal-resolution hook) and §4 (prefixed, checksummed bearer tokens);
// checklist A6 API2 (broken authentication).

/** corrupt changes the last character of a token (its checksum) to another base62 character. */
function corrupt(token: string): string {
  return `${token.slice(0, -1)}${token.endsWith("A") ? "B" : "A"}`;
}

async function count(t: TestApp, table: string): Promise<number> {
  const row = (await t.app.db.kysely
    .selectFrom(table)
    .select((eb) => eb.fn.countAll().as("n"))
    .executeTakeFirstOrThrow()) as { n: number | string };
  return Number(row.n);
}

function postItem(t: TestApp, headers: Record<string, string>) {
  return t.inject({ method: "POST", url: "/v1/probe/items", headers, payload: { name: "a" } });
}

describeEachEngine("Credentials: refusals", (engine) => {
  let t: TestApp;
  // NOTE: one app for the table: every case is refused and asserts nothing was written.
  beforeAll(async () => {
    t = await createTestApp(engine);
  });
  afterAll(async () => t?.close());

  const post = (headers: Record<string, string>) => postItem(t, headers);

  it("no Authorization header on an auth-required route → 401 unauthenticated with WWW-Authenticate", async () => {
    for (const res of [await post({}), await post({ authorization: "" })]) {
      expect(res.statusCode).toBe(401);
      expect(res.headers["content-type"]).toBe("application/problem+json; charset=utf-8");
      expect(res.json()).toMatchObject({ code: "unauthenticated", status: 401 });
      expect(res.headers["www-authenticate"]).toBe("Bearer");
    }
    expect(await count(t, "probe_item")).toBe(0);
  });

  const refused: Array<[string, (t: TestApp) => string]> = [
    ["a Basic credential", () => "Basic dXNlcjpwYXNz"],
    ["Bearer with no token", () => "Bearer"],
    ["Bearer and a space only", () => "Bearer "],
    ["two spaces after Bearer", (t) => `Bearer  ${t.token()}`],
    ["a token followed by junk", (t) => `Bearer ${t.token()} extra`],
    ["a token of an unknown prefix", () => `Bearer ${generateToken("bp_sk_")}`],
    ["a bare random string", () => "Bearer not-a-token"],
    ["a probe token with a corrupted checksum", (t) => `Bearer ${corrupt(t.token())}`],
    ["a probe token one character short", (t) => `Bearer ${t.token().slice(0, -1)}`],
    ["a well-formed but never-issued probe token", () => `Bearer ${generateToken("bp_probe_")}`],
    ["an overlong header", () => `Bearer ${"a".repeat(600)}`],
    [
      "a revoked token",
      (t) => {
        const token = t.token();
        t.probe.revokeToken(token);
        return `Bearer ${token}`;
      },
    ],
  ];

  it.each(refused)("%s → 401 invalid_credentials, nothing written", async (_label, header) => {
    const res = await post({ authorization: header(t) });
    expect(res.statusCode).toBe(401);
    expect(res.headers["content-type"]).toBe("application/problem+json; charset=utf-8");
    expect(res.json()).toMatchObject({ code: "invalid_credentials", status: 401 });
    expect(res.headers["www-authenticate"]).toBe('Bearer error="invalid_token"');
    expect(await count(t, "probe_item")).toBe(0);
    expect(await count(t, "probe_fact")).toBe(0);
    expect(await count(t, "idempotency_record")).toBe(0);
  });

  it("the refusal never echoes the token", async () => {
    const token = t.token();
    t.probe.revokeToken(token);
    const res = await post({ authorization: `Bearer ${token}` });
    expect(res.body).not.toContain(token);
    expect(res.body).not.toContain(token.slice(9, 20));
  });
});

describeEachEngine("Credentials: accepted tokens act as their principal", (engine) => {
  let t: TestApp;
  beforeEach(async () => {
    t = await createTestApp(engine);
  });
  afterEach(async () => t.close());

  const post = (headers: Record<string, string>) => postItem(t, headers);

  it("a token revoked after use stops working at once", async () => {
    const token = t.token();
    expect((await post({ authorization: `Bearer ${token}` })).statusCode).toBe(201);
    t.probe.revokeToken(token);
    expect((await post({ authorization: `Bearer ${token}` })).json().code).toBe("invalid_credentials");
    expect(await count(t, "probe_item")).toBe(1);
  });

  it("a valid token → 201, and the fact recorded carries its actor id", async () => {
    const token = t.token({ actorType: "user", actorId: "usr_alice" });
    const res = await post({ authorization: `Bearer ${token}` });
    expect(res.statusCode).toBe(201);
    const facts = await t.app.db.kysely.selectFrom("probe_fact").selectAll().execute();
    expect(facts).toEqual([
      expect.objectContaining({ type: "probe_item.created", actor_id: "usr_alice", environment_id: "env_test" }),
    ]);
  });

  it("two tokens act as their own principals", async () => {
    await post({ authorization: `Bearer ${t.token({ actorId: "svc_one" })}` });
    await post({ authorization: `Bearer ${t.token({ actorId: "svc_two" })}` });
    const actors = (await t.app.db.kysely.selectFrom("probe_fact").select("actor_id").execute()).map(
      (r) => (r as { actor_id: string }).actor_id,
    );
    expect(actors.sort()).toEqual(["svc_one", "svc_two"]);
  });

  it("the scheme name is case-insensitive (RFC 9110 §11.1)", async () => {
    for (const scheme of ["bearer", "BEARER"]) {
      expect((await post({ authorization: `${scheme} ${t.token()}` })).statusCode).toBe(201);
    }
  });

  it("public routes ignore the Authorization header entirely", async () => {
    const res = await t.inject({ method: "GET", url: "/healthz", headers: { authorization: "Basic garbage" } });
    expect(res.statusCode).toBe(200);
  });
});

describe("CredentialResolvers", () => {
  const request: RequestInfo = { requestId: "req_test", ip: "127.0.0.1" };
  const principal: Principal = {
    actorType: "service",
    actorId: "svc_fake",
    credentialId: "cred_fake",
    environmentId: "env_test",
    permissions: [],
  };

  function fake(prefix: string, answer: (token: string) => Principal | null | Promise<Principal | null>) {
    const resolve = vi.fn(async (token: string, _request: RequestInfo) => answer(token));
    const resolver: CredentialResolver = { kind: "fake", prefix, resolve };
    return { resolver, resolve };
  }

  async function expectInvalid(promise: Promise<unknown>) {
    const err = await promise.then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(AppError);
    expect(err).toMatchObject({
      code: "invalid_credentials",
      status: 401,
      headers: { "www-authenticate": 'Bearer error="invalid_token"' },
    });
  }

  it.each([
    ["bp_fake_", "bp_"],
    ["bp_", "bp_fake_"],
    ["bp_fake_", "bp_fake_"],
    ["bp_fake_", "bp_fake_x_"],
  ])("refuses overlapping prefixes %s and %s", (first, second) => {
    const resolvers = new CredentialResolvers();
    resolvers.register(fake(first, () => null).resolver);
    expect(() => resolvers.register(fake(second, () => null).resolver)).toThrow(/overlaps/);
    expect(resolvers.prefixes).toEqual([first]);
  });

  it("accepts distinct prefixes and picks the resolver by prefix", async () => {
    const resolvers = new CredentialResolvers();
    const a = fake("bp_aa_", () => ({ ...principal, actorId: "a" }));
    const b = fake("bp_bb_", () => ({ ...principal, actorId: "b" }));
    resolvers.register(a.resolver);
    resolvers.register(b.resolver);
    expect(resolvers.prefixes).toEqual(["bp_aa_", "bp_bb_"]);
    const token = generateToken("bp_bb_");
    expect(await resolvers.resolve(`Bearer ${token}`, request)).toMatchObject({ actorId: "b" });
    expect(b.resolve).toHaveBeenCalledWith(token, request);
    expect(a.resolve).not.toHaveBeenCalled();
  });

  it("returns null when there is no header", async () => {
    const resolvers = new CredentialResolvers();
    const { resolver, resolve } = fake("bp_fake_", () => principal);
    resolvers.register(resolver);
    expect(await resolvers.resolve(undefined, request)).toBeNull();
    expect(await resolvers.resolve("", request)).toBeNull();
    expect(resolve).not.toHaveBeenCalled();
  });

  it("returns the principal the resolver gives for a well-formed token", async () => {
    const resolvers = new CredentialResolvers();
    const { resolver } = fake("bp_fake_", () => principal);
    resolvers.register(resolver);
    expect(await resolvers.resolve(`Bearer ${generateToken("bp_fake_")}`, request)).toBe(principal);
  });

  it("never asks a resolver about a token whose shape or checksum is wrong", async () => {
    const resolvers = new CredentialResolvers();
    const { resolver, resolve } = fake("bp_fake_", () => principal);
    resolvers.register(resolver);
    const token = generateToken("bp_fake_");
    for (const header of [`Bearer ${corrupt(token)}`, `Bearer ${token}x`, "Bearer bp_fake_abc", `Token ${token}`]) {
      await expectInvalid(resolvers.resolve(header, request));
    }
    expect(resolve).not.toHaveBeenCalled();
  });

  it("answers invalid_credentials when the resolver does not know the token", async () => {
    const resolvers = new CredentialResolvers();
    const { resolver, resolve } = fake("bp_fake_", () => null);
    resolvers.register(resolver);
    await expectInvalid(resolvers.resolve(`Bearer ${generateToken("bp_fake_")}`, request));
    expect(resolve).toHaveBeenCalledTimes(1);
  });

  it("answers invalid_credentials when no resolver is registered at all", async () => {
    await expectInvalid(new CredentialResolvers().resolve(`Bearer ${generateToken("bp_fake_")}`, request));
  });

  it("lets a resolver's own AppError through (a more specific refusal)", async () => {
    const { credential_suspended } = defineErrors({
      credential_suspended: { status: 403, title: "The credential is suspended" },
    });
    const resolvers = new CredentialResolvers();
    resolvers.register(
      fake("bp_fake_", () => {
        throw new AppError(credential_suspended);
      }).resolver,
    );
    await expect(resolvers.resolve(`Bearer ${generateToken("bp_fake_")}`, request)).rejects.toMatchObject({
      code: "credential_suspended",
      status: 403,
    });
  });
});
