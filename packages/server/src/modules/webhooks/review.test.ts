import { afterAll, beforeAll, expect, it } from "vitest";
import { type SeededPlane, seedPlane } from "../../testing/fixtures.js";
import { createTestApp, describeEachEngine, type TestApp } from "../../testing/harness.js";
import { runDueJobs, WebhookReceiver } from "../../testing/webhook-receiver.js";
import type { SignedReview } from "../review/schemas.js";

// The webhooks part of the review report: its figures are what the webhooks API answers (the
// endpoints and their state; the success rate counted from their messages as the console counts
// it), the tenant's report shows only that tenant's endpoints, and the SSRF check reports whether
// this plane allows private targets.

type Json = Record<string, unknown>;

describeEachEngine("webhooks review part", (engine) => {
  let t: TestApp;
  let p: SeededPlane;
  let receiver: WebhookReceiver;
  let tenantA: string;
  let tenantB: string;
  let tenantKeyA: string;

  async function call(token: string, method: string, url: string, body?: unknown) {
    const res = await t.inject({
      method: method as "GET",
      url,
      headers: { authorization: `Bearer ${token}` },
      ...(body !== undefined ? { payload: body as object } : {}),
    });
    expect(res.statusCode, `${method} ${url}: ${res.body}`).toBeLessThan(300);
    return res.json() as Json;
  }
  const keyA = (method: string, url: string, body?: unknown) => call(p.a.secretKey, method, url, body);

  /** all pages through a list route as `token` sees it. */
  async function all(token: string, url: string): Promise<Json[]> {
    const items: Json[] = [];
    let cursor: string | null = null;
    do {
      const page = (await call(
        token,
        "GET",
        `${url}${url.includes("?") ? "&" : "?"}limit=100${cursor ? `&cursor=${cursor}` : ""}`,
      )) as { data: Json[]; nextCursor: string | null };
      items.push(...page.data);
      cursor = page.nextCursor;
    } while (cursor);
    return items;
  }
  function part(signed: SignedReview) {
    const found = signed.report.topics.flatMap((x) => x.parts).find((x) => x.name === "webhooks.delivery");
    expect(found).toBeDefined();
    return found as NonNullable<typeof found>;
  }
  /**
   * expected computes the part's figures from the API: the endpoints `token` lists, and their
   * messages created in the report's period counted as the console counts them.
   */
  async function expected(token: string, signed: SignedReview) {
    const from = Date.parse(signed.report.period.from);
    const to = Date.parse(signed.report.period.to);
    const endpoints = await all(token, "/v1/webhooks/endpoints");
    let attempted = 0;
    let delivered = 0;
    let failing = 0;
    for (const e of endpoints) {
      for (const m of await all(token, `/v1/webhooks/endpoints/${e.id}/messages`)) {
        const created = Date.parse(m.createdAt as string);
        if (created < from || created > to) continue;
        if (m.status === "succeeded") {
          attempted++;
          delivered++;
        } else if (
          m.lastAttemptAt &&
          (m.status === "failed" || (m.status === "pending" && (m.attempts as number) > 0))
        ) {
          attempted++;
          failing++;
        }
      }
    }
    return {
      endpoints,
      figures: {
        "endpoints.count": endpoints.length,
        "endpoints.enabled": endpoints.filter((e) => e.enabled).length,
        "endpoints.failing": endpoints.filter((e) => e.enabled && e.failingSince !== null).length,
        "endpoints.disabled": endpoints.filter((e) => !e.enabled).length,
        "endpoints.rotating": endpoints.filter((e) => e.secretRotatingUntil !== null).length,
        "deliveries.attempted": attempted,
        "deliveries.delivered": delivered,
        "deliveries.failing": failing,
      },
    };
  }

  beforeAll(async () => {
    t = await createTestApp(engine, { plane: true, env: { BASEPLATE_WEBHOOKS_ALLOW_PRIVATE_TARGETS: "true" } });
    p = await seedPlane(t);
    receiver = new WebhookReceiver();
    await receiver.listen();
    receiver.answer = (d) => ({ status: d.path === "/fail" ? 500 : d.path === "/gone" ? 410 : 200 });
    tenantA = (await keyA("POST", "/v1/tenants", { name: "Acme" })).id as string;
    tenantB = (await keyA("POST", "/v1/tenants", { name: "Beta" })).id as string;
    tenantKeyA = (await keyA("POST", `/v1/tenants/${tenantA}/keys`, { name: "reviewer", permissions: ["*"] }))
      .token as string;
    await keyA("POST", "/v1/events/types", { name: "order.placed", description: "An order" });
    const endpoint = (token: string, path: string, body: Json = {}) =>
      call(token, "POST", "/v1/webhooks/endpoints", {
        url: `${receiver.url}${path}`,
        eventTypes: ["order.*"],
        ...body,
      });
    const ok = await endpoint(p.a.secretKey, "/ok");
    await keyA("POST", `/v1/webhooks/endpoints/${ok.id}/rotate-secret`, { gracePeriodSeconds: 3600 });
    await endpoint(p.a.secretKey, "/fail");
    await endpoint(p.a.secretKey, "/gone");
    await endpoint(tenantKeyA, "/acme-hook");
    await endpoint(tenantKeyA, "/acme-off", { enabled: false });
    await endpoint(p.a.secretKey, "/beta-hook", { tenantId: tenantB });
    for (const tenantId of [tenantA, tenantA, tenantB, undefined]) {
      await keyA("POST", "/v1/events", { type: "order.placed", data: {}, ...(tenantId ? { tenantId } : {}) });
    }
    await runDueJobs(t);
  });
  afterAll(async () => {
    await receiver?.close();
    await t?.close();
  });

  it("the environment's report shows every endpoint, its state and its success rate, as the API answers", async () => {
    const signed = (await keyA("GET", "/v1/review")) as unknown as SignedReview;
    const { figures, blocks } = part(signed);
    const api = await expected(p.a.secretKey, signed);
    expect(figures).toMatchObject({
      ...api.figures,
      "endpoints.environment": api.endpoints.filter((e) => e.tenantId === null).length,
      "endpoints.tenant": api.endpoints.filter((e) => e.tenantId !== null).length,
    });
    // /ok: 4 delivered; /fail: 4 retrying; /gone: one 410 (then disabled, the rest settled unattempted);
    // Acme's: 2 delivered; Beta's: 1 delivered.
    expect(figures).toMatchObject({
      "endpoints.count": 6,
      "endpoints.environment": 3,
      "endpoints.disabled": 2,
      "endpoints.failing": 1,
      "endpoints.rotating": 1,
      "deliveries.attempted": 12,
      "deliveries.delivered": 7,
      "deliveries.failing": 5,
      "deliveries.successRate": 58.3,
      "retries.maxAttempts": t.config.webhooks.retryScheduleMs.length + 1,
    });
    const table = blocks.find((b) => b.kind === "table" && b.caption === "Endpoints");
    const rows = (table as { rows: unknown[][] }).rows;
    expect(rows[0]).toEqual([
      "environment",
      `${receiver.url}/gone`,
      "order.*",
      expect.stringMatching(/^disabled \(gone\) since /),
      "0/1",
      "0%",
      expect.stringMatching(/\(HTTP 410\)$/),
    ]);
    expect(rows.find((r) => r[1] === `${receiver.url}/fail`)).toEqual([
      "environment",
      `${receiver.url}/fail`,
      "order.*",
      expect.stringMatching(/^enabled, failing since /),
      "0/4",
      "0%",
      expect.stringMatching(/\(HTTP 500\)$/),
    ]);
    expect(rows.find((r) => r[1] === `${receiver.url}/acme-hook`)).toEqual([
      tenantA,
      `${receiver.url}/acme-hook`,
      "order.*",
      "enabled",
      "2/2",
      "100%",
      null,
    ]);
  });

  it("the tenant's report shows only that tenant's endpoints and deliveries", async () => {
    const signed = (await call(tenantKeyA, "GET", `/v1/tenants/${tenantA}/review`)) as unknown as SignedReview;
    const found = part(signed);
    const api = await expected(tenantKeyA, signed);
    expect(api.endpoints.every((e) => e.tenantId === tenantA)).toBe(true);
    expect(found.figures).toEqual({
      ...api.figures,
      "deliveries.successRate": 100,
      "retries.maxAttempts": t.config.webhooks.retryScheduleMs.length + 1,
      "ssrf.privateTargetsAllowed": true,
    });
    expect(found.figures["endpoints.count"]).toBe(2);
    const text = JSON.stringify(found);
    for (const other of [tenantB, "/beta-hook", "/ok", "/fail", "/gone"]) expect(text).not.toContain(other);
    expect(text).toContain("/acme-hook");
  });

  it("the SSRF check fails when private targets are allowed, and the probes show what this plane refuses", async () => {
    const signed = (await keyA("GET", "/v1/review")) as unknown as SignedReview;
    const { blocks, figures } = part(signed);
    expect(figures["ssrf.privateTargetsAllowed"]).toBe(true);
    const check = blocks.find((b) => b.kind === "check");
    expect(check).toMatchObject({ label: "SSRF protection on", ok: false });
    expect((check as { detail: string }).detail).toContain("BASEPLATE_WEBHOOKS_ALLOW_PRIVATE_TARGETS is on");
    const probes = (
      blocks.find((b) => b.kind === "table" && b.caption === "SSRF policy probes") as { rows: unknown[][] }
    ).rows;
    expect(probes).toContainEqual(["169.254.169.254", "cloud metadata service", "forbidden", "refused"]);
    expect(probes).toContainEqual(["127.0.0.1", "loopback", "private", "allowed"]);
  });

  it("with the default configuration the SSRF check passes and private targets are refused", async () => {
    const plain = await createTestApp(engine, { plane: true });
    try {
      const q = await seedPlane(plain);
      const res = await plain.inject({
        method: "GET",
        url: "/v1/review",
        headers: { authorization: `Bearer ${q.a.secretKey}` },
      });
      expect(res.statusCode, res.body).toBe(200);
      const { blocks, figures } = part(res.json() as SignedReview);
      expect(figures).toMatchObject({ "endpoints.count": 0, "ssrf.privateTargetsAllowed": false });
      expect(blocks.find((b) => b.kind === "check")).toMatchObject({ label: "SSRF protection on", ok: true });
      const probes = (
        blocks.find((b) => b.kind === "table" && b.caption === "SSRF policy probes") as { rows: unknown[][] }
      ).rows;
      for (const row of probes) expect(row[3]).toBe(row[2] === "public" ? "allowed" : "refused");
      expect(probes).toContainEqual(["::ffff:127.0.0.1", "IPv4-mapped loopback", "private", "refused"]);
    } finally {
      await plain.close();
    }
  });
});
