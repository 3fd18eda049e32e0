import { afterAll, beforeAll, expect, it } from "vitest";
import { withoutAuditGuard } from "../../testing/audit.js";
import { type SeededPlane, seedPlane } from "../../testing/fixtures.js";
import { createTestApp, describeEachEngine, type TestApp } from "../../testing/harness.js";
import type { SignedReview } from "./schemas.js";
import { type PublicKey, verifyReview, verifyReviewText } from "./verify.js";

type Json = Record<string, unknown>;

describeEachEngine("review report", (engine) => {
  let t: TestApp;
  let p: SeededPlane;
  let keys: PublicKey[];
  let tenantA: string;
  let tenantB: string;
  let tenantKeyA: string;

  async function call(token: string, url: string, env?: string) {
    const res = await t.inject({
      method: "GET",
      url,
      headers: { authorization: `Bearer ${token}`, ...(env ? { "baseplate-environment": env } : {}) },
    });
    return res;
  }
  const post = async (url: string, body: unknown) => {
    const res = await t.inject({
      method: "POST",
      url,
      headers: { authorization: `Bearer ${p.a.secretKey}` },
      payload: body as object,
    });
    expect(res.statusCode, res.body).toBeLessThan(300);
    return res.json() as Json;
  };

  beforeAll(async () => {
    t = await createTestApp(engine, { plane: true });
    p = await seedPlane(t);
    tenantA = (await post("/v1/tenants", { name: "Acme" })).id as string;
    tenantB = (await post("/v1/tenants", { name: "Beta" })).id as string;
    tenantKeyA = (await post(`/v1/tenants/${tenantA}/keys`, { name: "reviewer", permissions: ["*"] })).token as string;
    keys = ((await call(p.a.secretKey, "/v1/audit/public-keys")).json() as { keys: PublicKey[] }).keys;
  });
  afterAll(async () => t?.close());

  it("the environment's report is signed with the audit signing key; a changed figure fails verification", async () => {
    const res = await call(p.a.secretKey, "/v1/review");
    expect(res.statusCode, res.body).toBe(200);
    const signed = res.json() as SignedReview;
    expect(signed.report.environment.id).toBe(p.a.id);
    expect(signed.report.topics.map((x) => x.topic)).toEqual([
      "access",
      "dataScoping",
      "events",
      "usageBilling",
      "audit",
      "operations",
    ]);
    expect(verifyReview(signed, keys)).toMatchObject({ ok: true, problem: null });
    const tampered = structuredClone(signed);
    const part = tampered.report.topics.flatMap((x) => x.parts).find((x) => x.name === "tenancy.lifecycle");
    (part as { figures: Json }).figures["tenants.suspended"] = 0.5;
    expect(verifyReview(tampered, keys)).toMatchObject({ ok: false });
  });

  it("the self-test probes isolation and passes", async () => {
    const signed = (await call(p.a.secretKey, "/v1/review")).json() as SignedReview;
    const part = signed.report.topics.flatMap((x) => x.parts).find((x) => x.name === "review.selfTest");
    expect(part?.figures["selfTest.failed"]).toBe(0);
    expect(part?.figures["selfTest.probes"]).toBeGreaterThan(100);
  });

  it("Markdown and HTML carry the signed JSON: verified, and an edit to the text fails", async () => {
    for (const format of ["markdown", "html"]) {
      const res = await call(p.a.secretKey, `/v1/review?format=${format}`);
      expect(res.statusCode).toBe(200);
      const text = res.body;
      expect(verifyReviewText(text, keys)).toMatchObject({ ok: true, format });
      const edited = text.replace("Active tenants", "Active customers");
      expect(edited).not.toBe(text);
      expect(verifyReviewText(edited, keys)).toMatchObject({ ok: false, format });
    }
    // The Markdown shows each topic in order, then the signed JSON it was rendered from.
    const md = (await call(p.a.secretKey, "/v1/review?format=markdown")).body;
    const headings = md.split("\n").filter((l) => l.startsWith("## "));
    expect(headings).toEqual([
      "## Access",
      "## Data scoping",
      "## Events and webhooks",
      "## Usage and billing",
      "## Audit",
      "## Operations",
      "## Signature",
    ]);
    expect(md).toContain('```json baseplate-review\n{"report":');
  });

  it("renders a PDF", async () => {
    const res = await call(p.a.secretKey, "/v1/review?format=pdf");
    expect(res.statusCode).toBe(200);
    expect(res.headers["content-type"]).toBe("application/pdf");
    expect(res.rawPayload.subarray(0, 5).toString()).toBe("%PDF-");
  });

  it("a tenant's report is the tenant's own: its key reads it, another tenant's answers 404", async () => {
    const own = await call(tenantKeyA, `/v1/tenants/${tenantA}/review`);
    expect(own.statusCode, own.body).toBe(200);
    const signed = own.json() as SignedReview;
    expect(signed.report.tenant).toEqual({ id: tenantA, name: "Acme" });
    expect(signed.report.audit.chain).toBe(tenantA);
    expect(verifyReview(signed, keys).ok).toBe(true);
    expect((await call(tenantKeyA, `/v1/tenants/${tenantB}/review`)).statusCode).toBe(404);
    expect((await call(p.b.secretKey, `/v1/tenants/${tenantA}/review`)).statusCode).toBe(404);
    expect((await call(tenantKeyA, "/v1/review")).statusCode).toBe(403);
  });

  it("audit: the chains the API verifies are the report's; a rewritten entry shows as a failed check", async () => {
    const auditPart = async () => {
      const signed = (await call(p.a.secretKey, "/v1/review")).json() as SignedReview;
      return signed.report.topics.flatMap((x) => x.parts).find((x) => x.name === "audit.chains") as {
        figures: Record<string, unknown>;
        blocks: Array<{ kind: string; ok?: boolean; label?: string }>;
      };
    };
    const before = await auditPart();
    const chains = await t.app.db.kysely
      .selectFrom("audit_chain")
      .select("id")
      .where("environment_id", "=", p.a.id)
      .execute();
    expect(before.figures).toMatchObject({ "chains.count": chains.length, "chains.failed": 0 });
    expect(before.figures["chains.verified"]).toBe(chains.length);
    const verify = await call(tenantKeyA, "/v1/audit/verify");
    expect(verify.json()).toMatchObject({ ok: true });

    // Someone with database access rewrites what a tenant's entry says.
    await withoutAuditGuard(t, async () => {
      await t.app.db.kysely
        .updateTable("audit_entry")
        .set({ action: "tenant.deleted" })
        .where("chain_id", "=", tenantA)
        .execute();
    });
    expect((await call(tenantKeyA, "/v1/audit/verify")).json()).toMatchObject({ ok: false });
    const after = await auditPart();
    expect(after.figures["chains.failed"]).toBe(1);
    expect(after.blocks.find((b) => b.kind === "check")).toMatchObject({ label: "Chain verification", ok: false });
  });
});
