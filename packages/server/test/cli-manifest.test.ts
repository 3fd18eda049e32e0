import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { parseManifest, sectionsFor } from "../src/cli/remote/manifest-file.js";
import { runCaptured } from "../src/testing/cli.js";
import { type SeededPlane, seedPlane } from "../src/testing/fixtures.js";
import { createTestApp, describeEachEngine, type TestApp } from "../src/testing/harness.js";

// The manifest's cycle from the command line, against a served plane (both engines): export an
// environment, plan it against another, apply, plan again (nothing left), the refusals.

const cli = runCaptured;

describe("manifest file", () => {
  const file = parseManifest(
    [
      "version: 1",
      "project: Acme",
      "roles:",
      "  - { key: analyst, name: Analyst, permissions: ['usage:read'] }",
      "meters: []",
      "environments:",
      "  development: {}",
      "  production:",
      "    meters:",
      "      - { key: calls, eventType: api.call, aggregation: count }",
    ].join("\n"),
  );

  it("an environment's sections are the shared ones, each replaced by the environment's own", () => {
    expect(sectionsFor(file, "development")).toEqual({ roles: file.shared.roles, meters: [] });
    expect(sectionsFor(file, "production").meters).toEqual([
      { key: "calls", eventType: "api.call", aggregation: "count" },
    ]);
    expect(() => sectionsFor(file, undefined)).toThrow(/name one with --env/);
    expect(() => sectionsFor(file, "staging")).toThrow(/no environment "staging" \(it has development, production\)/);
  });

  it("refuses what is not a manifest: no version, a section that is not a list, alias bombs", () => {
    expect(() => parseManifest("roles: []")).toThrow(/version: 1/);
    expect(() => parseManifest("version: 1\nroles: {}")).toThrow(/`roles` must be a list/);
    expect(() => parseManifest("version: 1\nroles: [")).toThrow(/not valid YAML/);
    const bomb = ["version: 1", "a: &a [x, x, x, x, x, x, x, x, x, x]"];
    for (let i = 0; i < 8; i++)
      bomb.push(
        `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(10)
          .fill(`*${String.fromCharCode(97 + i)}`)
          .join(", ")}]`,
      );
    expect(() => parseManifest(bomb.join("\n"))).toThrow(/not valid YAML|alias/i);
  });
});

describeEachEngine("baseplate plan / apply", (engine) => {
  let t: TestApp;
  let p: SeededPlane;
  let url: string;
  let dir: string;
  const as = (environment: string) => ({
    XDG_CONFIG_HOME: "/nonexistent-baseplate-cli-test",
    BASEPLATE_URL: url,
    BASEPLATE_API_KEY: p.operatorToken,
    BASEPLATE_ENVIRONMENT: environment,
  });

  beforeAll(async () => {
    t = await createTestApp(engine, { plane: true, migrate: false, env: { BASEPLATE_PORT: "0" } });
    url = (await t.app.start()) as string;
    p = await seedPlane(t);
    dir = mkdtempSync(join(tmpdir(), "baseplate-manifest-"));
    const sk = { authorization: `Bearer ${p.a.secretKey}` };
    for (const [path, body] of [
      ["/v1/roles", { key: "analyst", name: "Analyst", permissions: ["usage:read", "tenants:read"] }],
      ["/v1/usage/meters", { key: "calls", eventType: "api.call", aggregation: "count" }],
    ] as const) {
      expect((await t.inject({ method: "POST", url: path, headers: sk, payload: body })).statusCode).toBe(201);
    }
  });
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await t?.close();
  });

  it("exports A, plans it against B, applies it, and B then matches", async () => {
    const file = join(dir, "baseplate.yaml");
    const exported = await cli(as(p.a.id), "manifest", "export", "-o", file);
    expect(exported.code, exported.err).toBe(0);
    const text = readFileSync(file, "utf8");
    expect(text.split("\n")[0]).toBe(`# yaml-language-server: $schema=${url}/v1/manifest/schema`);
    expect(parse(text)).toMatchObject({ version: 1, roles: [{ key: "analyst" }], meters: [{ key: "calls" }] });

    const planned = await cli(as(p.b.id), "plan", "-f", file);
    expect(planned.code, planned.err).toBe(0);
    expect(planned.out).toMatch(/\+ roles\/analyst\s+additive\s+Adds role `analyst` \(2 permissions\)\./);
    expect(planned.out).toMatch(/\+ meters\/calls\s+additive/);
    expect(planned.out).toContain("2 change(s): 2 additive, 0 behaviour, 0 destructive.");

    const unconfirmed = await cli(as(p.b.id), "apply", "-f", file);
    expect(unconfirmed.code).toBe(2);
    expect(unconfirmed.err).toContain("pass --yes");

    const applied = await cli(as(p.b.id), "apply", "-f", file, "--yes");
    expect(applied.code, applied.err).toBe(0);
    expect(applied.out).toContain(`Applied 2 change(s) to ${p.b.id}`);
    const again = await cli(as(p.b.id), "plan", "-f", file);
    expect(again.out).toContain("No changes: the environment matches the manifest.");
  });

  it("destructive changes need --allow-destructive; a reviewed plan goes stale when the plane moves", async () => {
    const file = join(dir, "narrow.yaml");
    writeFileSync(
      file,
      ["version: 1", "roles:", "  - { key: analyst, name: Analyst, permissions: ['usage:read'] }"].join("\n"),
    );
    const sk = { authorization: `Bearer ${p.b.secretKey}` };
    const tenant = (
      await t.inject({ method: "POST", url: "/v1/tenants", headers: sk, payload: { name: "Acme" } })
    ).json() as { id: string };
    const user = (
      await t.inject({ method: "POST", url: "/v1/users", headers: sk, payload: { email: "ann@example.com" } })
    ).json() as { id: string };
    const member = await t.inject({
      method: "POST",
      url: `/v1/tenants/${tenant.id}/members`,
      headers: sk,
      payload: { userId: user.id, roles: ["analyst"] },
    });
    expect(member.statusCode).toBe(201);

    const planned = await cli(as(p.b.id), "plan", "-f", file, "--json");
    const plan = JSON.parse(planned.out) as { liveHash: string; changes: Array<{ risk: string }> };
    expect(plan.changes).toMatchObject([
      { risk: "destructive", affected: [{ count: 1, what: "memberships hold role `analyst`" }] },
    ]);
    const shown = await cli(as(p.b.id), "plan", "-f", file);
    expect(shown.out).toContain("DESTRUCTIVE");
    expect(shown.out).toContain("affects 1 memberships hold role `analyst`");

    const refused = await cli(as(p.b.id), "apply", "-f", file, "--yes");
    expect(refused.code).toBe(1);
    expect(refused.err).toContain("manifest_destructive");

    // Someone changes the role by hand after the plan was reviewed: applying that plan is refused.
    const edit = await t.inject({
      method: "PATCH",
      url: "/v1/roles/analyst",
      headers: sk,
      payload: { description: "by hand" },
    });
    expect(edit.statusCode).toBe(200);
    const stale = await cli(
      as(p.b.id),
      "apply",
      "-f",
      file,
      "--yes",
      "--allow-destructive",
      "--live-hash",
      plan.liveHash,
    );
    expect(stale.code).toBe(1);
    expect(stale.err).toContain("manifest_stale");

    const done = await cli(as(p.b.id), "apply", "-f", file, "--yes", "--allow-destructive");
    expect(done.code, done.err).toBe(0);
    const role = (await t.inject({ method: "GET", url: "/v1/roles/analyst", headers: sk })).json() as Record<
      string,
      unknown
    >;
    expect(role).toMatchObject({ permissions: ["usage:read"], description: null });
  });

  it("a bad item is reported with its path; the schema is printed for editors", async () => {
    const file = join(dir, "bad.yaml");
    writeFileSync(file, ["version: 1", "meters:", "  - { key: Bad Key, eventType: x, aggregation: sum }"].join("\n"));
    const bad = await cli(as(p.b.id), "plan", "-f", file);
    expect(bad.code).toBe(1);
    expect(bad.err).toContain("body.manifest.meters.0.key");
    expect(bad.err).toContain("body.manifest.meters.0.valuePath");
    const missing = await cli(as(p.b.id), "plan", "-f", join(dir, "nope.yaml"));
    expect(missing.code).toBe(2);
    const schema = await cli(as(p.b.id), "manifest", "schema");
    expect(JSON.parse(schema.out)).toMatchObject({
      title: "Baseplate manifest (baseplate.yaml)",
      required: ["version"],
    });
  });

  it("baseplate review writes the signed report; review verify accepts it and refuses an edited copy", async () => {
    const sk = {
      XDG_CONFIG_HOME: "/nonexistent-baseplate-cli-test",
      BASEPLATE_URL: url,
      BASEPLATE_API_KEY: p.a.secretKey,
    };
    const md = join(dir, "review.md");
    const written = await cli(sk, "review", "-o", md);
    expect(written.code, written.err).toBe(0);
    expect(readFileSync(md, "utf8")).toMatch(/^# Review of environment Env A/);
    const ok = await cli(sk, "review", "verify", md);
    expect(ok.code, ok.out).toBe(0);
    expect(ok.out).toMatch(/^OK: .* \(markdown\) is signed by the plane's key ed25519:[0-9a-f]{16} and unchanged\.$/);

    // Offline, with the keys saved from the plane.
    const keys = join(dir, "keys.json");
    writeFileSync(keys, (await t.inject({ method: "GET", url: "/v1/audit/public-keys" })).body);
    expect(
      (await cli({ XDG_CONFIG_HOME: "/nonexistent-baseplate-cli-test" }, "review", "verify", md, "--public-key", keys))
        .code,
    ).toBe(0);

    writeFileSync(md, readFileSync(md, "utf8").replace("Active tenants", "Active customers"));
    const edited = await cli(sk, "review", "verify", md);
    expect(edited.code).toBe(1);
    expect(edited.out).toContain("FAILED");

    const pdf = join(dir, "review.pdf");
    expect((await cli(sk, "review", "-o", pdf)).code).toBe(0);
    expect(readFileSync(pdf).subarray(0, 5).toString()).toBe("%PDF-");
    expect((await cli(sk, "review", "--format", "pdf")).code).toBe(2);

    const json = join(dir, "review.json");
    expect((await cli(sk, "review", "-o", json)).code).toBe(0);
    const signed = JSON.parse(readFileSync(json, "utf8"));
    signed.report.environment.production = true;
    writeFileSync(json, JSON.stringify(signed));
    expect((await cli(sk, "review", "verify", json)).code).toBe(1);
  });
});
