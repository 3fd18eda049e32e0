import { afterAll, beforeAll, expect, it } from "vitest";
import { TestClock } from "../../platform/clock.js";
import { type SeededPlane, seedPlane } from "../../testing/fixtures.js";
import { createTestApp, describeEachEngine, type TestApp } from "../../testing/harness.js";
import { type Json, type ManifestPlanBody, manifestClient } from "../../testing/manifest.js";
import { MfaClient } from "../../testing/mfa.js";
import { type CreationOptions, SoftAuthenticator } from "../../testing/webauthn.js";
import { DEFAULT_AUTH_SETTINGS } from "./internal/settings/index.js";

const ORIGIN = "http://localhost:3000";

// The `signIn` manifest section: each live surface's sign-in settings, keyed by the surface's name,
// exported, round-tripped (with a surface the `surfaces` section creates in the same apply), never
// deleted, and classified by whom a change reaches.
describeEachEngine("identity manifest: signIn", (engine) => {
  let t: TestApp;
  let p: SeededPlane;
  let mfa: MfaClient;
  const clock = new TestClock(Date.UTC(2026, 11, 1));
  let customerPortal: string;
  const configured = {
    signIn: { magicLink: true },
    email: { appUrl: "https://app.example.com", productName: "Acme" },
    mfa: { policy: "required_for_admins" },
    tokens: { accessTokens: true, accessTokenTtlSeconds: 600 },
  };

  const m = manifestClient(() => ({ t, p }));
  const { call, plan, apply, exported } = m;
  const change = (planned: ManifestPlanBody, key: string) => m.byKey(planned, key, "signIn");
  const item = (manifest: Record<string, Json[]>, surface: string) =>
    (manifest.signIn as Json[]).find((i) => i.surface === surface) as Json;
  const settingsOf = async (key: string, surfaceId: string) => {
    const res = await call(key, "GET", `/v1/surfaces/${surfaceId}/auth-settings`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return res.body.settings as Json;
  };
  const audit = (key: string) => m.audit(key, "surface.auth_settings_updated");

  beforeAll(async () => {
    t = await createTestApp(engine, { plane: true, clock });
    p = await seedPlane(t);
    mfa = new MfaClient(t, p, clock);
    const surface = await call(p.operatorToken, "POST", `/v1/environments/${p.a.id}/surfaces`, {
      name: "Customer portal",
      kind: "web",
      allowedOrigins: ["https://app.example.com"],
    });
    expect(surface.status, JSON.stringify(surface.body)).toBe(201);
    customerPortal = surface.body.id as string;
    const set = await call(p.a.secretKey, "PATCH", `/v1/surfaces/${customerPortal}/auth-settings`, configured);
    expect(set.status, JSON.stringify(set.body)).toBe(200);
  });
  afterAll(async () => t?.close());

  it("exports every live surface's settings by name, defaults filled in, to a secret key too", async () => {
    const expected = {
      surface: "Customer portal",
      signIn: { ...DEFAULT_AUTH_SETTINGS.signIn, ...configured.signIn },
      email: { ...DEFAULT_AUTH_SETTINGS.email, ...configured.email },
      mfa: { ...DEFAULT_AUTH_SETTINGS.mfa, ...configured.mfa },
      passkeys: DEFAULT_AUTH_SETTINGS.passkeys,
      tokens: configured.tokens,
    };
    const manifest = await exported(p.a.id);
    expect(manifest.signIn).toEqual([expected, { surface: "Portal", ...DEFAULT_AUTH_SETTINGS }]);
    const bySecretKey = await call(p.a.secretKey, "GET", "/v1/manifest");
    expect((bySecretKey.body.manifest as Json).signIn).toEqual(manifest.signIn);
  });

  it("round trip: a surface created by the surfaces section gets its settings in the same apply", async () => {
    const source = await exported(p.a.id);
    const manifest = { surfaces: source.surfaces as Json[], signIn: source.signIn as Json[] };
    const first = await plan(p.b.id, manifest);
    expect(first.changes.map((c) => `${c.action} ${c.section}:${c.key} ${c.risk}`)).toEqual([
      "create surfaces:Customer portal additive",
      "create signIn:Customer portal additive",
    ]);
    const applied = await apply(p.b.id, manifest, first.liveHash);
    expect(applied.status, JSON.stringify(applied.body)).toBe(200);
    expect((await plan(p.b.id, manifest)).changes).toEqual([]);
    const target = await exported(p.b.id);
    expect(target.signIn).toEqual(source.signIn);

    const created = (target.surfaces as Json[]).find((s) => s.name === "Customer portal") as Json;
    expect(created).toBeDefined();
    const surfaces = await call(p.operatorToken, "GET", `/v1/environments/${p.b.id}/surfaces`, undefined, p.b.id);
    const id = (surfaces.body.data as Json[]).find((s) => s.name === "Customer portal")?.id as string;
    expect(await settingsOf(p.b.secretKey, id)).toMatchObject({ mfa: { policy: "required_for_admins" } });
    const entries = await audit(p.b.secretKey);
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({
      actor: { type: "operator" },
      targets: [{ type: "surface", id }],
      metadata: {
        changes: expect.objectContaining({
          "mfa.policy": { before: "optional", after: "required_for_admins" },
          "signIn.magicLink": { before: false, after: true },
        }),
      },
    });
  });

  it("refuses settings for a surface that does not exist (applying nothing)", async () => {
    const live = await exported(p.b.id);
    const manifest = { signIn: [...(live.signIn as Json[]), { surface: "Nowhere", mfa: { policy: "required" } }] };
    const planned = await plan(p.b.id, manifest);
    expect(planned.changes.map((c) => `${c.action} ${c.key}`)).toEqual(["create Nowhere"]);
    const failed = await apply(p.b.id, manifest, planned.liveHash);
    expect(failed.status, JSON.stringify(failed.body)).toBe(409);
    expect(failed.body.code).toBe("manifest_blocked");
    expect(failed.body.errors).toEqual([
      {
        path: "manifest.signIn.Nowhere",
        message: 'No live surface is named "Nowhere": declare it in the surfaces section, or remove its signIn item.',
        code: "surface_not_found",
      },
    ]);
    expect(await audit(p.b.secretKey)).toHaveLength(1);
  });

  it("blocks leaving a live surface's settings out: they can only be changed", async () => {
    const live = await exported(p.a.id);
    const manifest = { signIn: [item(live, "Portal")] };
    const planned = await plan(p.a.id, manifest);
    expect(change(planned, "Customer portal")).toMatchObject({ action: "delete", risk: "behaviour" });
    expect(change(planned, "Customer portal").blocked).toContain("cannot be removed, only changed");
    const refused = await apply(p.a.id, manifest, planned.liveHash, true);
    expect(refused.status).toBe(409);
    expect(refused.body.code).toBe("manifest_blocked");
    expect((refused.body.errors as Json[]).map((e) => e.path)).toEqual(["manifest.signIn.Customer portal"]);
    expect(await settingsOf(p.a.secretKey, customerPortal)).toMatchObject({ signIn: { magicLink: true } });
  });

  it("classifies changes by whom they reach: wording additive, MFA and methods behaviour", async () => {
    await mfa.enrol("enrolled");
    await mfa.createUser("plain");
    await mfa.createUser("plain");
    const live = await exported(p.a.id);
    const portal = item(live, "Customer portal");
    const edit = (patch: (i: Json) => Json) => ({
      signIn: [patch(structuredClone(portal)), item(live, "Portal")],
    });

    const wording = await plan(
      p.a.id,
      edit((i) => ({ ...i, email: { ...(i.email as Json), productName: "Acme Inc" } })),
    );
    expect(change(wording, "Customer portal")).toMatchObject({ risk: "additive", affected: [] });

    const stricter = await plan(
      p.a.id,
      edit((i) => ({ ...i, mfa: { ...(i.mfa as Json), policy: "required" } })),
    );
    expect(change(stricter, "Customer portal")).toMatchObject({
      risk: "behaviour",
      summary:
        "Surface `Customer portal`: requires a second factor of every user (MFA policy required_for_admins → required).",
      affected: [{ count: 2, what: "users without a second factor must enrol one at their next sign-in" }],
    });
    const weaker = await plan(
      p.a.id,
      edit((i) => ({ ...i, mfa: { ...(i.mfa as Json), policy: "optional" } })),
    );
    expect(change(weaker, "Customer portal")).toMatchObject({ risk: "behaviour", affected: [] });

    const verification = await plan(
      p.a.id,
      edit((i) => ({ ...i, email: { ...(i.email as Json), requireVerification: true } })),
    );
    expect(change(verification, "Customer portal")).toMatchObject({
      risk: "behaviour",
      affected: [
        { count: 3, what: "users with an unverified address must verify it before signing in with a password" },
      ],
    });
  });

  it("is destructive when what users hold stops signing them in; refused without allowDestructive, then recorded", async () => {
    // A passkey registered through the seeded `Portal` surface (relying party `localhost`).
    const enable = await call(p.a.secretKey, "PATCH", `/v1/surfaces/${p.a.surfaceId}/auth-settings`, {
      passkeys: { enabled: true, rpId: "localhost", origins: [ORIGIN] },
    });
    expect(enable.status, JSON.stringify(enable.body)).toBe(200);
    const user = await mfa.createUser("passkey");
    const { token } = await mfa.session(user.email);
    const options = await mfa.post(token, "/v1/auth/passkeys/registration/options");
    expect(options.statusCode, options.body).toBe(200);
    const auth = new SoftAuthenticator(ORIGIN);
    const registered = await mfa.post(token, "/v1/auth/passkeys/registration/verify", {
      response: auth.register(options.json() as CreationOptions),
    });
    expect(registered.statusCode, registered.body).toBe(201);

    const live = await exported(p.a.id);
    const portal = item(live, "Portal");
    const customer = item(live, "Customer portal");
    const manifest = {
      signIn: [
        { ...customer, signIn: { ...(customer.signIn as Json), password: false } },
        { ...portal, passkeys: { ...(portal.passkeys as Json), rpId: "example.com" } },
      ],
    };
    const planned = await plan(p.a.id, manifest);
    expect(change(planned, "Customer portal")).toMatchObject({
      risk: "destructive",
      affected: [{ count: 4, what: "users with a password can no longer sign in with it through `Customer portal`" }],
    });
    expect(change(planned, "Portal")).toMatchObject({
      risk: "destructive",
      summary: "Surface `Portal`: moves its passkey relying party to example.com.",
      affected: [
        { count: 1, what: "passkeys of relying party `localhost` no longer sign in through surface `Portal`" },
      ],
    });
    // Turning passkeys off strands them too; changing origins that keep the relying party does not.
    const off = await plan(p.a.id, {
      signIn: [customer, { ...portal, passkeys: { ...(portal.passkeys as Json), enabled: false } }],
    });
    expect(change(off, "Portal")).toMatchObject({
      risk: "destructive",
      summary: "Surface `Portal`: turns off passkeys.",
    });
    const origins = await plan(p.a.id, {
      signIn: [
        customer,
        { ...portal, passkeys: { ...(portal.passkeys as Json), origins: [ORIGIN, "http://localhost:4000"] } },
      ],
    });
    expect(change(origins, "Portal")).toMatchObject({ risk: "behaviour", affected: [] });

    const before = (await audit(p.a.secretKey)).length;
    const refused = await apply(p.a.id, manifest, planned.liveHash);
    expect(refused.status).toBe(409);
    expect(refused.body.code).toBe("manifest_destructive");
    expect((await audit(p.a.secretKey)).length).toBe(before);
    expect(await settingsOf(p.a.secretKey, customerPortal)).toMatchObject({ signIn: { password: true } });

    const done = await apply(p.a.id, manifest, planned.liveHash, true);
    expect(done.status, JSON.stringify(done.body)).toBe(200);
    expect((await plan(p.a.id, manifest)).changes).toEqual([]);
    expect(await settingsOf(p.a.secretKey, customerPortal)).toMatchObject({ signIn: { password: false } });
    const entries = await audit(p.a.secretKey);
    expect(entries.length).toBe(before + 2);
    expect(entries.map((e) => (e.metadata as Json).changes)).toEqual(
      expect.arrayContaining([
        // Recorded as `passwordSignIn`: a fact never carries a key that looks like a credential.
        { "signIn.passwordSignIn": { before: true, after: false } },
        { "passkeys.rpId": { before: "localhost", after: "example.com" } },
      ]),
    );
  });
});
