import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { initPlane } from "../src/cli/init.js";
import { runCaptured } from "../src/testing/cli.js";
import { TEST_PASSWORD } from "../src/testing/fixtures.js";
import { createTestApp, describeEachEngine, type TestApp } from "../src/testing/harness.js";

// docs/manifest.md's example, verbatim: its baseplate.yaml applied to a development environment,
// then promoted to production, through the CLI as the guide shows (both engines).

const DOC = readFileSync(new URL("../../../docs/manifest.md", import.meta.url), "utf8");
const YAML = (DOC.match(/```yaml\n([\s\S]*?)```/) as RegExpMatchArray)[1] as string;

const cli = runCaptured;

describeEachEngine("docs/manifest.md", (engine) => {
  let t: TestApp;
  let operatorToken: string;
  let development: { id: string; secretKey: string };
  let production: { id: string; secretKey: string };
  let url: string;
  let dir: string;
  const as = (environment: string) => ({
    XDG_CONFIG_HOME: "/nonexistent-baseplate-cli-test",
    BASEPLATE_URL: url,
    BASEPLATE_API_KEY: operatorToken,
    BASEPLATE_ENVIRONMENT: environment,
  });

  beforeAll(async () => {
    t = await createTestApp(engine, { plane: true, migrate: false, env: { BASEPLATE_PORT: "0" } });
    url = (await t.app.start()) as string;
    // As the README's first run: `baseplate init --project "Acme"`.
    const init = await initPlane(t.app, {
      email: "you@example.com",
      name: "You",
      password: TEST_PASSWORD,
      project: "Acme",
    });
    operatorToken = init.operator.token;
    if (!init.project) throw new Error("init made no project");
    [development, production] = init.project.environments as unknown as [typeof development, typeof production];
    dir = mkdtempSync(join(tmpdir(), "baseplate-docs-manifest-"));
    writeFileSync(join(dir, "baseplate.yaml"), YAML);
  });
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await t?.close();
  });

  it("plans, applies and re-plans the example in development, then promotes it to production", async () => {
    const file = join(dir, "baseplate.yaml");
    const dev = as(development.id);
    const refused = await cli(dev, "plan", "-f", file);
    expect(refused.code).toBe(2);
    expect(refused.err).toContain("name one with --env");

    const planned = await cli(dev, "plan", "-f", file, "--env", "development");
    expect(planned.code, planned.err).toBe(0);
    expect(planned.out).toMatch(/\+ roles\/analyst\s+additive/);
    expect(planned.out).toMatch(/\+ plans\/pro\s+additive/);
    expect(planned.out).toMatch(/0 destructive\.$/m);

    const applied = await cli(dev, "apply", "-f", file, "--env", "development", "--yes");
    expect(applied.code, applied.err).toBe(0);
    expect((await cli(dev, "plan", "-f", file, "--env", "development")).out).toContain("No changes");

    const prod = as(production.id);
    const promote = await cli(prod, "plan", "-f", file, "--env", "production");
    expect(promote.code, promote.err).toBe(0);
    expect(promote.out).toContain("webhooks/https://hooks.acme.example/baseplate");
    const live = await cli(prod, "apply", "-f", file, "--env", "production", "--yes");
    expect(live.code, live.err).toBe(0);
    expect((await cli(prod, "plan", "-f", file, "--env", "production")).out).toContain("No changes");

    // The two environments differ exactly where the file says: production's origin and webhook.
    const devExport = JSON.parse((await cli(dev, "manifest", "export", "--json")).out);
    const prodExport = JSON.parse((await cli(prod, "manifest", "export", "--json")).out);
    expect(prodExport.manifest.roles).toEqual(devExport.manifest.roles);
    expect(prodExport.manifest.plans).toEqual(devExport.manifest.plans);
    expect(devExport.manifest.webhooks).toEqual([]);
    expect(prodExport.manifest.webhooks).toHaveLength(1);

    const audit = await t.inject({
      method: "GET",
      url: "/v1/audit/entries?action=manifest.applied",
      headers: { authorization: `Bearer ${production.secretKey}` },
    });
    expect((audit.json() as { data: unknown[] }).data).toHaveLength(1);
  });

  it("docs/review.md: the review of the same environment, and of one tenant, verified and tamper-evident", async () => {
    const sk = {
      XDG_CONFIG_HOME: "/nonexistent-baseplate-cli-test",
      BASEPLATE_URL: url,
      BASEPLATE_API_KEY: development.secretKey,
    };
    const tenant = await t.inject({
      method: "POST",
      url: "/v1/tenants",
      headers: { authorization: `Bearer ${development.secretKey}` },
      payload: { name: "Globex", externalId: "cus_42" },
    });
    const globex = (tenant.json() as { id: string }).id;
    const md = join(dir, "acme-review.md");
    expect((await cli(sk, "review", "-o", md)).code).toBe(0);
    const text = readFileSync(md, "utf8");
    for (const heading of [
      "## Access",
      "## Data scoping",
      "## Events and webhooks",
      "## Usage and billing",
      "## Audit",
      "## Operations",
    ]) {
      expect(text).toContain(heading);
    }
    // What the manifest declared is what the report shows.
    expect(text).toContain("| tokens | llm.call | sum | tokens | model |");
    expect(text).toMatch(/\| pro \| Pro \| USD \| month \|/);
    expect((await cli(sk, "review", "verify", md)).out).toMatch(/^OK: /);
    writeFileSync(md, text.replace("Customer app", "Customer App"));
    const tampered = await cli(sk, "review", "verify", md);
    expect(tampered.code).toBe(1);
    expect(tampered.out).toContain("the Markdown text differs from what its signed report renders to");

    const html = join(dir, "globex-review.html");
    expect((await cli(sk, "review", "--tenant", globex, "-o", html)).code).toBe(0);
    expect(readFileSync(html, "utf8")).toContain("Review of tenant Globex");
    expect((await cli(sk, "review", "verify", html)).code).toBe(0);
    const pdf = join(dir, "acme-review.pdf");
    expect((await cli(sk, "review", "-o", pdf)).code).toBe(0);
    expect(readFileSync(pdf).subarray(0, 5).toString()).toBe("%PDF-");
  });
});
