import { afterEach, beforeEach, expect, it } from "vitest";
import { captureLogs, createTestApp, describeEachEngine, type TestApp } from "../../testing/harness.js";

// The access log explains a refusal: a 4xx line carries the problem code the client got, so an
// operator can tell `validation_failed` from `forbidden` without reproducing the request.

describeEachEngine("access log", (engine) => {
  let t: TestApp;
  let lines: Array<Record<string, unknown>>;

  beforeEach(async () => {
    const capture = captureLogs("info");
    lines = capture.lines;
    t = await createTestApp(engine, { logger: capture.logger });
  });
  afterEach(async () => t.close());

  function accessLine(requestId: string): Record<string, unknown> | undefined {
    return lines.find((l) => l.msg === "request completed" && l.requestId === requestId);
  }

  it("a 4xx line names its problem code; a 2xx line has none", async () => {
    const missing = await t.inject({
      method: "GET",
      url: "/v1/probe/items/itm_missing",
      headers: { authorization: `Bearer ${t.token()}`, "x-request-id": "req-missing" },
    });
    expect(missing.statusCode).toBe(404);
    expect(accessLine("req-missing")).toMatchObject({ statusCode: 404, problemCode: missing.json().code });

    const invalid = await t.inject({
      method: "POST",
      url: "/v1/probe/items",
      headers: { authorization: `Bearer ${t.token()}`, "x-request-id": "req-invalid" },
      payload: { unknown: true },
    });
    expect(invalid.statusCode).toBe(400);
    expect(accessLine("req-invalid")).toMatchObject({ statusCode: 400, problemCode: "validation_failed" });

    const anonymous = await t.inject({
      method: "GET",
      url: "/v1/probe/items/itm_missing",
      headers: { "x-request-id": "req-anonymous" },
    });
    expect(anonymous.statusCode).toBe(401);
    expect(accessLine("req-anonymous")).toMatchObject({ statusCode: 401, problemCode: "unauthenticated" });

    const ok = await t.inject({
      method: "GET",
      url: "/v1/probe/items",
      headers: { authorization: `Bearer ${t.token()}`, "x-request-id": "req-ok" },
    });
    expect(ok.statusCode).toBe(200);
    expect(accessLine("req-ok")?.statusCode).toBe(200);
    expect(accessLine("req-ok")).not.toHaveProperty("problemCode");
  });
});
