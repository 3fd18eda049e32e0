import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestClock } from "../../platform/clock.js";
import { withoutAuditGuard } from "../../testing/audit.js";
import { type SeededPlane, seedPlane } from "../../testing/fixtures.js";
import { createTestApp, describeEachEngine, type TestApp } from "../../testing/harness.js";
import { type AuditEntryRecord, loadPublicKeys } from "./format.js";
import { auditModule } from "./index.js";
import type { AuditService } from "./service.js";
import { verifyExportLines } from "./verifier.js";
import { verifyExportFile } from "./verify-threads.js";

// The audit trail end to end, on both engines: the fact sink, product entries, queries, chains,
// checkpoints, server-side verification, export and the append-only guard (checklist A4).

describeEachEngine("audit", (engine) => {
  let t: TestApp;
  let plane: SeededPlane;
  let audit: AuditService;
  const clock = new TestClock(Date.UTC(2026, 10, 1));

  beforeAll(async () => {
    t = await createTestApp(engine, { plane: true, clock });
    plane = await seedPlane(t);
    audit = t.app.service(auditModule);
  });
  afterAll(async () => t?.close());

  const call = async (token: string | null, method: string, url: string, body?: unknown) => {
    const res = await t.inject({
      method: method as "GET",
      url,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), "user-agent": "audit-test" },
      ...(body !== undefined ? { payload: body as object } : {}),
    });
    return { status: res.statusCode, body: res.body, json: () => JSON.parse(res.body) };
  };
  const keyA = () => plane.a.secretKey;
  const keyB = () => plane.b.secretKey;
  const list = async (token: string, query: Record<string, string> = {}) => {
    const res = await call(token, "GET", `/v1/audit/entries?${new URLSearchParams({ limit: "100", ...query })}`);
    expect(res.status, res.body).toBe(200);
    return res.json() as { data: AuditEntryRecord[]; nextCursor: string | null };
  };
  const newTenant = async (token = keyA()) => {
    clock.advance(1000);
    const res = await call(token, "POST", "/v1/tenants", { name: `Tenant ${Math.random().toString(36).slice(2, 8)}` });
    expect(res.status, res.body).toBe(201);
    return res.json() as { id: string };
  };
  const exportLines = async (token: string, query = "") => {
    const res = await call(token, "GET", `/v1/audit/export${query}`);
    expect(res.status, res.body).toBe(200);
    return res.body.split("\n").filter((l) => l !== "");
  };
  const keys = async () => loadPublicKeys((await call(null, "GET", "/v1/audit/public-keys")).body);

  describe("the fact sink", () => {
    it("turns every committed fact into one entry with actor, targets, tenant and context", async () => {
      const tenant = await newTenant();
      const entries = (await list(keyA(), { tenantId: tenant.id })).data;
      expect(entries).toHaveLength(1);
      const [entry] = entries as [AuditEntryRecord];
      expect(entry).toMatchObject({
        action: "tenant.created",
        chain: tenant.id,
        seq: 1,
        tenantId: tenant.id,
        environmentId: plane.a.id,
        actor: { type: "service", id: plane.a.secretKeyId, onBehalfOf: null },
        targets: [{ type: "tenant", id: tenant.id }],
        context: { userAgent: "audit-test", surfaceId: plane.a.surfaceId },
        source: "fact",
      });
      expect(entry.context.requestId).toMatch(/^req_/);
      expect(entry.prevHash).toBe("0".repeat(64));
    });

    it("leaves no entry for a rolled-back mutation and one for a committed one", async () => {
      const token = t.token({ environmentId: plane.a.id });
      const before = await t.app.db.kysely.selectFrom("audit_entry").select("id").execute();
      const failed = await call(token, "POST", "/v1/probe/items", { name: "explode-after-write" });
      expect(failed.status).toBe(500);
      const after = await t.app.db.kysely.selectFrom("audit_entry").select("id").execute();
      expect(after.length).toBe(before.length);
      const ok = await call(token, "POST", "/v1/probe/items", { name: "committed" });
      expect(ok.status).toBe(201);
      const entries = (await list(keyA(), { targetId: ok.json().id })).data;
      expect(entries.map((e) => e.action)).toEqual(["probe_item.created"]);
      expect(entries[0]?.chain).toBe(plane.a.id);
    });

    it("keeps one gap-free chain per tenant and per environment", async () => {
      const tenant = await newTenant();
      await call(keyA(), "PATCH", `/v1/tenants/${tenant.id}`, { name: "Renamed once" });
      await call(keyA(), "PATCH", `/v1/tenants/${tenant.id}`, { name: "Renamed twice" });
      const entries = (await list(keyA(), { tenantId: tenant.id, order: "oldest" })).data;
      expect(entries.map((e) => [e.seq, e.action])).toEqual([
        [1, "tenant.created"],
        [2, "tenant.updated"],
        [3, "tenant.updated"],
      ]);
      expect(entries[1]?.changes).toEqual({ before: { name: expect.any(String) }, after: { name: "Renamed once" } });
      expect(entries[1]?.prevHash).toBe(entries[0]?.hash);
      expect(entries[2]?.prevHash).toBe(entries[1]?.hash);
    });

    it("writes plane-level facts (operators, projects) to the plane chain", async () => {
      const rows = await t.app.db.kysely
        .selectFrom("audit_entry")
        .select(["action", "seq"])
        .where("chain_id", "=", "plane")
        .orderBy("seq")
        .execute();
      expect(rows.map((r) => r.action)).toEqual(expect.arrayContaining(["operator.created", "project.created"]));
      expect(rows.map((r) => Number(r.seq))).toEqual(rows.map((_, i) => i + 1));
    });
  });

  describe("product entries", () => {
    it("takes the actor from the credential and refuses actor fields in the body", async () => {
      const forged = await call(keyA(), "POST", "/v1/audit/entries", {
        action: "report.exported",
        actor: { type: "user", id: "usr_forged" },
        targets: [{ type: "report", id: "rep_1" }],
      });
      expect(forged.status).toBe(400);
      expect(forged.json().code).toBe("validation_failed");
      expect((await list(keyA(), { action: "report.exported" })).data).toHaveLength(0);

      const ok = await call(keyA(), "POST", "/v1/audit/entries", {
        action: "report.exported",
        targets: [{ type: "report", id: "rep_1" }],
        metadata: { rows: 120, format: "pdf" },
      });
      expect(ok.status, ok.body).toBe(201);
      expect(ok.json()).toMatchObject({
        action: "report.exported",
        actor: { type: "service", id: plane.a.secretKeyId },
        source: "product",
        chain: plane.a.id,
        metadata: { rows: 120, format: "pdf" },
      });
    });

    it("writes into a named tenant's chain, and 404s for another environment's tenant", async () => {
      const tenant = await newTenant();
      const ok = await call(keyA(), "POST", "/v1/audit/entries", {
        action: "invoice.paid",
        tenantId: tenant.id,
        targets: [{ type: "invoice", id: "inv_1" }],
      });
      expect(ok.status, ok.body).toBe(201);
      expect(ok.json()).toMatchObject({ chain: tenant.id, seq: 2, tenantId: tenant.id });
      const foreign = await call(keyB(), "POST", "/v1/audit/entries", { action: "invoice.paid", tenantId: tenant.id });
      expect(foreign.status).toBe(404);
    });

    it("validates metadata against the action's registered schema", async () => {
      const put = await call(keyA(), "POST", "/v1/audit/schemas", {
        action: "document.signed",
        schema: {
          type: "object",
          required: ["documentId"],
          properties: { documentId: { type: "string", maxLength: 40 }, pages: { type: "integer", minimum: 1 } },
          additionalProperties: false,
        },
      });
      expect(put.status, put.body).toBe(200);
      const bad = await call(keyA(), "POST", "/v1/audit/entries", {
        action: "document.signed",
        metadata: { pages: 0, extra: true },
      });
      expect(bad.status).toBe(422);
      expect(
        bad
          .json()
          .errors.map((e: { path: string }) => e.path)
          .sort(),
      ).toEqual(["body.metadata.documentId", "body.metadata.extra", "body.metadata.pages"]);
      const good = await call(keyA(), "POST", "/v1/audit/entries", {
        action: "document.signed",
        metadata: { documentId: "doc_1", pages: 3 },
      });
      expect(good.status, good.body).toBe(201);
      // Another environment has no schema for the action.
      const other = await call(keyB(), "POST", "/v1/audit/entries", { action: "document.signed", metadata: { x: 1 } });
      expect(other.status).toBe(201);
      // Registering a schema is itself audited.
      const own = (await list(keyA(), { action: "audit_schema.*" })).data;
      expect(own.map((e) => e.action)).toContain("audit_schema.created");
      // Unsupported keywords (a client regex run by the server) are refused.
      const regex = await call(keyA(), "POST", "/v1/audit/schemas", {
        action: "document.sent",
        schema: { type: "string", pattern: "^(a+)+$" },
      });
      expect(regex.status).toBe(400);
    });

    it("refuses lone UTF-16 surrogates at the edge (one rule on both engines); pairs are stored and verify", async () => {
      const send = (payload: string) =>
        t.inject({
          method: "POST",
          url: "/v1/audit/entries",
          headers: { authorization: `Bearer ${keyA()}`, "content-type": "application/json" },
          payload,
        });
      const lone = await send('{"action":"note.added","metadata":{"text":"a\\ud800b","\\udc00k":"ok"}}');
      expect(lone.statusCode, lone.body).toBe(400);
      expect(lone.json().code).toBe("validation_failed");
      const res = await send('{"action":"note.added","metadata":{"text":"ok \\ud83d\\ude00"}}');
      expect(res.statusCode, res.body).toBe(201);
      expect(res.json().metadata).toEqual({ text: "ok \ud83d\ude00" });
      expect((await call(keyA(), "GET", "/v1/audit/verify")).json().ok).toBe(true);
    });

    it("refuses credential-like metadata keys (AUD-09)", async () => {
      const res = await call(keyA(), "POST", "/v1/audit/entries", {
        action: "user.invited",
        metadata: { inviteToken: "abc" },
      });
      expect(res.status).toBe(400);
    });
  });

  describe("queries", () => {
    it("filters by action prefix, actor, target, time range, and pages both ways", async () => {
      const token = t.token({ environmentId: plane.a.id, actorId: "svc_query" });
      const start = clock.now() + 1;
      for (let i = 0; i < 5; i++) {
        clock.advance(10);
        const res = await call(token, "POST", "/v1/audit/entries", {
          action: i % 2 === 0 ? "widget.created" : "widget_part.created",
          targets: [{ type: "widget", id: `wid_${i}` }],
        });
        expect(res.status, res.body).toBe(201);
      }
      const end = clock.now() + 1;
      const byActor = (await list(keyA(), { actorId: "svc_query" })).data;
      expect(byActor.map((e) => e.targets[0]?.id)).toEqual(["wid_4", "wid_3", "wid_2", "wid_1", "wid_0"]);
      // `widget.*` matches widget.created, not widget_part.created (no LIKE wildcard surprises).
      expect((await list(keyA(), { action: "widget.*" })).data.map((e) => e.targets[0]?.id)).toEqual([
        "wid_4",
        "wid_2",
        "wid_0",
      ]);
      expect((await list(keyA(), { targetType: "widget", targetId: "wid_3" })).data).toHaveLength(1);
      const ranged = (await list(keyA(), { actorId: "svc_query", from: String(start + 10), to: String(end - 10) }))
        .data;
      expect(ranged.map((e) => e.targets[0]?.id)).toEqual(["wid_3", "wid_2", "wid_1"]);
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const page: { data: AuditEntryRecord[]; nextCursor: string | null } = await list(keyA(), {
          actorId: "svc_query",
          order: "oldest",
          limit: "2",
          ...(cursor ? { cursor } : {}),
        });
        seen.push(...page.data.map((e) => e.targets[0]?.id as string));
        cursor = page.nextCursor;
      } while (cursor);
      expect(seen).toEqual(["wid_0", "wid_1", "wid_2", "wid_3", "wid_4"]);
    });

    it("never shows another environment's or tenant's entries (404 for a foreign tenant)", async () => {
      const tenant = await newTenant();
      expect((await call(keyB(), "GET", `/v1/audit/entries?tenantId=${tenant.id}`)).status).toBe(404);
      expect((await call(keyB(), "GET", `/v1/audit/export?tenantId=${tenant.id}`)).status).toBe(404);
      expect((await call(keyB(), "GET", `/v1/audit/verify?tenantId=${tenant.id}`)).status).toBe(404);
      expect((await call(keyB(), "GET", `/v1/audit/checkpoints?tenantId=${tenant.id}`)).status).toBe(404);
      const mine = (await list(keyB())).data;
      expect(mine.every((e) => e.environmentId === plane.b.id)).toBe(true);
      expect(JSON.stringify(mine)).not.toContain(tenant.id);
    });

    it("refuses credentials without audit permissions", async () => {
      const token = t.token({ environmentId: plane.a.id, permissions: ["tenants:read"] });
      expect((await call(token, "GET", "/v1/audit/entries")).status).toBe(403);
      expect((await call(token, "POST", "/v1/audit/entries", { action: "x.created" })).status).toBe(403);
      expect((await call(token, "GET", "/v1/audit/export")).status).toBe(403);
    });
  });

  describe("checkpoints and verification", () => {
    it("signs checkpoints linked to each other, even when nothing happened (AUD-04)", async () => {
      const tenant = await newTenant();
      const first = await call(keyA(), "POST", "/v1/audit/checkpoints", { tenantId: tenant.id });
      expect(first.status, first.body).toBe(201);
      // The checkpoint covers the fact that asked for it.
      expect(first.json()).toMatchObject({ chain: tenant.id, size: 2, previousCheckpointHash: null });
      clock.advance(3_600_000);
      // The hourly schedule runs checkpointAll.
      await audit.checkpoints.checkpointAll();
      const listed = await call(keyA(), "GET", `/v1/audit/checkpoints?tenantId=${tenant.id}`);
      const page = listed.json() as {
        chain: string;
        data: Array<{ size: number; previousCheckpointHash: string | null; checkpointHash: string }>;
      };
      expect(page.chain).toBe(tenant.id);
      expect(page.data).toHaveLength(2);
      expect(page.data[0]?.size).toBe(2); // nothing happened: same size, still a checkpoint
      expect(page.data[0]?.previousCheckpointHash).toBe(page.data[1]?.checkpointHash);
      const verified = await call(keyA(), "GET", `/v1/audit/verify?tenantId=${tenant.id}`);
      expect(verified.json()).toMatchObject({ ok: true, entries: 2, checkpoints: 2, lastCheckpointSize: 2 });
    });

    it("stored rows are append-only: UPDATE and DELETE are refused by the database (AUD-07)", async () => {
      const db = t.app.db.kysely;
      await expect(
        db.updateTable("audit_entry").set({ action: "tenant.deleted" }).where("chain_id", "=", plane.a.id).execute(),
      ).rejects.toThrow(/append-only/);
      await expect(db.deleteFrom("audit_entry").where("chain_id", "=", plane.a.id).execute()).rejects.toThrow(
        /append-only/,
      );
      await expect(db.deleteFrom("audit_checkpoint").execute()).rejects.toThrow(/append-only/);
    });

    it("detects an entry edited directly in the database, naming its seq (AUD-01)", async () => {
      const tenant = await newTenant();
      for (let i = 0; i < 3; i++) await call(keyA(), "PATCH", `/v1/tenants/${tenant.id}`, { name: `Name ${i}` });
      await call(keyA(), "POST", "/v1/audit/checkpoints", { tenantId: tenant.id });
      expect((await call(keyA(), "GET", `/v1/audit/verify?tenantId=${tenant.id}`)).json().ok).toBe(true);
      await withoutAuditGuard(t, async () => {
        await t.app.db.kysely
          .updateTable("audit_entry")
          .set({ metadata: JSON.stringify({ name: "Forged" }) })
          .where("chain_id", "=", tenant.id)
          .where("seq", "=", 2)
          .execute();
      });
      const result = (await call(keyA(), "GET", `/v1/audit/verify?tenantId=${tenant.id}`)).json();
      expect(result.ok).toBe(false);
      expect(result.errors).toEqual([expect.objectContaining({ kind: "entry_modified", seq: 2 })]);
    });
  });

  describe("export", () => {
    it("streams JSON Lines that verify offline, and CSV with control characters encoded (AUD-08)", async () => {
      const tenant = await newTenant();
      await call(keyA(), "POST", "/v1/audit/entries", {
        action: "note.added",
        tenantId: tenant.id,
        metadata: { text: "line one\nline two \u001b[31mred\u001b[0m", formula: "=1+1" },
      });
      await call(keyA(), "POST", "/v1/audit/checkpoints", { tenantId: tenant.id });
      const lines = await exportLines(keyA(), `?tenantId=${tenant.id}`);
      expect(JSON.parse(lines[0] as string)).toMatchObject({ type: "header", chain: tenant.id, anchor: { size: 0 } });
      expect(lines.filter((l) => l.includes('"type":"entry"'))).toHaveLength(3);
      expect(lines.join("\n")).not.toContain("\u001b");
      const result = await verifyExportLines(lines, await keys());
      expect(result).toMatchObject({ ok: true, entries: 3, checkpoints: 1, uncheckpointed: 0 });

      const csv = await call(keyA(), "GET", `/v1/audit/export?tenantId=${tenant.id}&format=csv`);
      expect(csv.status).toBe(200);
      const rows = csv.body.trimEnd().split("\r\n");
      expect(rows).toHaveLength(4); // header + 3 entries, one line each
      expect(csv.body).not.toContain("\u001b");
      expect(rows[0]?.startsWith("chain,seq,id,occurredAt,action")).toBe(true);
    });

    it("pages the database: an export larger than a page is complete and in order", async () => {
      const token = t.token({ environmentId: plane.a.id, tenantId: undefined });
      const tenant = await newTenant();
      await t.app.db.transaction(async (tx) => {
        for (let i = 0; i < 2100; i++) {
          await t.app.facts.record(
            tx,
            { principal: t.probe.resolve(token), request: { requestId: `req_bulk_${i}` } },
            { type: "bulk.recorded", tenantId: tenant.id, targets: [{ type: "bulk", id: String(i) }] },
          );
        }
      });
      const lines = await exportLines(keyA(), `?tenantId=${tenant.id}`);
      expect(lines).toHaveLength(1 + 2101);
      const result = await verifyExportLines(lines, await keys());
      expect(result).toMatchObject({ ok: true, entries: 2101, firstSeq: 1, lastSeq: 2101, uncheckpointed: 2101 });
      // The same file checked in segments on worker threads gives the same result.
      const dir = mkdtempSync(join(tmpdir(), "baseplate-audit-export-"));
      try {
        const file = join(dir, "export.jsonl");
        writeFileSync(file, `${lines.join("\n")}\n`);
        const options = { threads: 2, minParallelBytes: 0, segmentBytes: 64 * 1024 };
        expect(await verifyExportFile(file, await keys(), options)).toEqual(result);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
      // Server-side, pages of rows are checked on worker threads: a gap at a page boundary and an
      // edit in the middle of a page are both named.
      const verify = async () => (await call(keyA(), "GET", `/v1/audit/verify?tenantId=${tenant.id}`)).json();
      expect(await verify()).toMatchObject({ ok: true, entries: 2101, lastSeq: 2101 });
      await withoutAuditGuard(t, async () => {
        const db = t.app.db.kysely;
        await db
          .updateTable("audit_entry")
          .set({ metadata: JSON.stringify({ forged: true }) })
          .where("chain_id", "=", tenant.id)
          .where("seq", "=", 1500)
          .execute();
        await db.deleteFrom("audit_entry").where("chain_id", "=", tenant.id).where("seq", "=", 1001).execute();
      });
      const broken = await verify();
      expect(broken.errors.map((e: { kind: string; seq: number }) => [e.kind, e.seq])).toEqual([
        ["entry_missing", 1002],
        ["entry_modified", 1500],
      ]);
      expect(broken).toMatchObject({ ok: false, entries: 2100 });
    }, 120_000);
  });

  describe("retention", () => {
    it("prunes whole checkpointed segments and the rest still verifies from the anchor", async () => {
      const tenant = await newTenant();
      for (let i = 0; i < 4; i++) await call(keyA(), "PATCH", `/v1/tenants/${tenant.id}`, { name: `Old ${i}` });
      await call(keyA(), "POST", "/v1/audit/checkpoints", { tenantId: tenant.id }); // size 6
      clock.advance(40 * 86_400_000);
      for (let i = 0; i < 2; i++) await call(keyA(), "PATCH", `/v1/tenants/${tenant.id}`, { name: `New ${i}` });
      await audit.checkpoints.checkpointAll(); // size 8
      const set = await call(keyA(), "PATCH", "/v1/audit/settings", { retentionDays: 30 });
      expect(set.status, set.body).toBe(200);
      expect(set.json()).toMatchObject({ environmentId: plane.a.id, retentionDays: 30 });
      const deleted = await audit.settings.pruneAll();
      expect(deleted).toBeGreaterThanOrEqual(6);
      const entries = (await list(keyA(), { tenantId: tenant.id, order: "oldest" })).data;
      expect(entries.map((e) => e.seq)).toEqual([7, 8]);
      const lines = await exportLines(keyA(), `?tenantId=${tenant.id}`);
      expect(JSON.parse(lines[0] as string).anchor.size).toBe(6);
      expect(await verifyExportLines(lines, await keys())).toMatchObject({ ok: true, entries: 2, firstSeq: 7 });
      expect((await call(keyA(), "GET", `/v1/audit/verify?tenantId=${tenant.id}`)).json().ok).toBe(true);
      // The setting change is audited, and retention back to forever.
      expect((await list(keyA(), { action: "audit_settings.updated" })).data).toHaveLength(1);
      expect((await call(keyA(), "PATCH", "/v1/audit/settings", { retentionDays: null })).status).toBe(200);
    });
  });

  describe("signing keys", () => {
    it("publishes public keys without a credential; rotation keeps old checkpoints verifiable", async () => {
      const tenant = await newTenant();
      await call(keyA(), "POST", "/v1/audit/checkpoints", { tenantId: tenant.id });
      const before = (await call(null, "GET", "/v1/audit/public-keys")).json().keys;
      const rotated = await call(plane.operatorToken, "POST", "/v1/operator/audit/signing-keys/rotate");
      expect(rotated.status, rotated.body).toBe(200);
      await call(keyA(), "POST", "/v1/audit/checkpoints", { tenantId: tenant.id });
      const after = (await call(null, "GET", "/v1/audit/public-keys")).json().keys;
      expect(after).toHaveLength(before.length + 1);
      expect(after[0]).toMatchObject({ keyId: rotated.json().keyId, status: "active" });
      expect(after.filter((k: { status: string }) => k.status === "active")).toHaveLength(1);
      const cps = (await call(keyA(), "GET", `/v1/audit/checkpoints?tenantId=${tenant.id}`)).json().data;
      expect(new Set(cps.map((c: { keyId: string }) => c.keyId)).size).toBe(2);
      expect((await call(keyA(), "GET", `/v1/audit/verify?tenantId=${tenant.id}`)).json().ok).toBe(true);
      const lines = await exportLines(keyA(), `?tenantId=${tenant.id}`);
      expect((await verifyExportLines(lines, await keys())).ok).toBe(true);
    });
  });
});
