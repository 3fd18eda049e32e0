import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { checkUrl, classifyAddress, isAllowedAddress, type Resolver } from "../../platform/ssrf.js";
import { type SeededPlane, seedPlane } from "../../testing/fixtures.js";
import { createTestApp, describeEachEngine, type TestApp } from "../../testing/harness.js";
import { runDueJobs, WebhookReceiver } from "../../testing/webhook-receiver.js";
import { Sender } from "./internal/sender.js";

// SSRF (checklist A3): the policy classifies every address (SSRF-02), refuses private targets at
// create time and at delivery time with the default configuration (SSRF-01), checks the address
// actually dialled so a DNS answer that changes between check and connect cannot slip through
// (SSRF-03), refuses mixed answer sets (SSRF-04), and only allows http(s) (SSRF-07).
// `BASEPLATE_WEBHOOKS_ALLOW_PRIVATE_TARGETS` opens private ranges, never metadata (SSRF-06).

describe("SSRF-02: address classification (Svix is_allowed_test vectors and more)", () => {
  const blocked = [
    "10.254.0.0",
    "192.168.10.65",
    "172.16.10.65",
    "0.1.2.3",
    "0.0.0.0",
    "127.0.0.1",
    "169.254.45.1",
    "255.255.255.255",
    "192.0.2.255",
    "198.51.100.65",
    "203.0.113.6",
    "100.100.0.0",
    "100.64.0.1",
    "192.0.0.0",
    "250.10.20.30",
    "198.18.0.0",
    "224.0.0.1",
    "::1",
    "::",
    "::ffff:127.0.0.1",
    "::ffff:7f00:1",
    "::ffff:10.0.0.1",
    "::127.0.0.1",
    "64:ff9b::a9fe:a9fe",
    "fe80::1",
    "fc00::1",
    "fd00:ec2::254",
    "ff02::1",
    "2001:db8::1",
    "169.254.169.254",
  ];
  const allowed = ["1.1.1.1", "8.8.8.8", "93.184.216.34", "2001:4860:4860::8888", "::ffff:8.8.8.8", "2606:4700::1111"];

  it.each(blocked)("%s is refused by default", (ip) => {
    expect(classifyAddress(ip)).not.toBe("public");
    expect(isAllowedAddress(ip, false)).toBe(false);
  });
  it.each(allowed)("%s is public", (ip) => {
    expect(classifyAddress(ip)).toBe("public");
    expect(isAllowedAddress(ip, false)).toBe(true);
  });
  it.each([
    "169.254.169.254",
    "fd00:ec2::254",
    "100.100.100.200",
    "0.0.0.0",
    "::",
    "224.0.0.1",
    "::ffff:169.254.169.254",
  ])("%s stays refused even when private targets are allowed (metadata, unspecified, multicast)", (ip) => {
    expect(isAllowedAddress(ip, true)).toBe(false);
  });
  it("allows loopback and RFC 1918 only with the operator setting", () => {
    for (const ip of ["127.0.0.1", "10.0.0.1", "::1", "192.168.1.1"]) expect(isAllowedAddress(ip, true)).toBe(true);
  });
  it("refuses IP literals in every encoding the URL parser accepts (hex, decimal, octal, short)", () => {
    for (const url of [
      "http://0x7f000001/",
      "http://2130706433/",
      "http://0177.0.0.1/",
      "http://127.1/",
      "http://[::ffff:127.0.0.1]/",
      "http://[::1]:8080/",
      "http://169.254.169.254/latest/meta-data",
      "http://0.0.0.0/",
      "http://localhost/",
      "http://api.localhost/",
      "http://intranet/",
      // Other spellings of the same hosts: trailing dots, case, IDNA, percent-encoding.
      "http://localhost./",
      "http://localhost../",
      "http://foo.localhost./",
      "http://intranet./",
      "http://LOCALHOST/",
      "http://LocalHost./",
      "http://localhost%2e/",
      "http://%6c%6fcalhost/",
      "http://\u24dbocalhost/",
      "http://localhost\u3002/",
      "http://127.0.0.1./",
      "http://0x7f.1./",
      "http://[::1]./",
      // IDNA A-labels the URL parser keeps, whose Unicode form is a refused host.
      "http://xn--localhost-/",
      "http://foo.xn--localhost-/",
      "http://xn--localhost-.xn--localhost-./",
      "http://xn--intranet-./",
    ]) {
      const refusal = (() => {
        try {
          return checkUrl(url, false);
        } catch (err) {
          return String(err);
        }
      })();
      expect(refusal, url).not.toBeNull();
    }
    expect(checkUrl("https://hooks.example.com./x", false)).toBeNull();
    expect(checkUrl("https://hooks.example.com/x?y=1", false)).toBeNull();
    // A real IDNA name is a public host like any other.
    expect(checkUrl("https://xn--bcher-kva.example/hook", false)).toBeNull();
  });
  it("SSRF-07: only http and https, no credentials in the URL", () => {
    for (const url of ["ftp://example.com/", "file:///etc/passwd", "gopher://example.com/", "javascript:alert(1)"]) {
      expect(checkUrl(url, true), url).toMatch(/http or https|valid/);
    }
    expect(checkUrl("https://user:pass@example.com/", false)).toMatch(/credentials/);
  });
});

describe("SSRF-03 SSRF-04: the address dialled is the address checked", () => {
  let receiver: WebhookReceiver;
  let port: string;
  beforeAll(async () => {
    receiver = new WebhookReceiver();
    await receiver.listen();
    port = new URL(receiver.url).port;
  });
  afterAll(async () => receiver.close());

  function sender(resolver: Resolver, allowPrivate = false) {
    return new Sender({ allowPrivate, resolver });
  }
  const post = (s: Sender, host: string) =>
    s.send({ url: `http://${host}:${port}/hook`, headers: {}, body: "{}", timeoutMs: 500 });

  it("a name resolving to loopback is refused at connect time", async () => {
    const s = sender(async () => [{ address: "127.0.0.1", family: 4 }]);
    const result = await post(s, "innocent.example.com");
    expect(result).toMatchObject({ kind: "error", refused: true });
    expect(receiver.received).toHaveLength(0);
    s.close();
  });

  it("a DNS answer that changes between two lookups (rebinding) never reaches the private address", async () => {
    let calls = 0;
    const s = sender(async () => {
      calls++;
      return calls === 1 ? [{ address: "93.184.216.34", family: 4 }] : [{ address: "127.0.0.1", family: 4 }];
    });
    const first = await post(s, "rebind.example.com");
    // The first answer was public: a connection was attempted there (no network in CI: it fails).
    expect(first.kind === "error" ? first.refused : true).toBe(false);
    const second = await post(s, "rebind.example.com");
    expect(second).toMatchObject({ kind: "error", refused: true });
    expect(calls).toBe(2);
    expect(receiver.received).toHaveLength(0);
    s.close();
  });

  it("a mixed answer set (one public, one private) is refused", async () => {
    const s = sender(async () => [
      { address: "1.1.1.1", family: 4 },
      { address: "127.0.0.1", family: 4 },
    ]);
    expect(await post(s, "mixed.example.com")).toMatchObject({ kind: "error", refused: true });
    expect(receiver.received).toHaveLength(0);
    s.close();
  });

  it("SSRF-06: with private targets allowed, the same name reaches the loopback receiver", async () => {
    const s = sender(async () => [{ address: "127.0.0.1", family: 4 }], true);
    expect(await post(s, "receiver.test")).toMatchObject({ kind: "response", status: 200 });
    expect(receiver.received).toHaveLength(1);
    s.close();
  });
});

describeEachEngine("SSRF-01: private targets with the default configuration", (engine) => {
  let t: TestApp;
  let p: SeededPlane;
  let receiver: WebhookReceiver;
  beforeEach(async () => {
    t = await createTestApp(engine, { plane: true });
    p = await seedPlane(t);
    receiver = new WebhookReceiver();
    await receiver.listen();
  });
  afterEach(async () => {
    await receiver.close();
    await t.close();
  });

  it("refuses them at create and update time", async () => {
    for (const url of [
      `${receiver.url}/hook`,
      "http://localhost/",
      "http://[::1]/",
      "http://0.0.0.0/",
      "http://169.254.169.254/",
      "ftp://example.com/",
    ]) {
      const res = await t.inject({
        method: "POST",
        url: "/v1/webhooks/endpoints",
        headers: { authorization: `Bearer ${p.a.secretKey}` },
        payload: { url },
      });
      expect(res.statusCode, url).toBe(400);
      expect(res.json().code).toBe("endpoint_url_refused");
    }
  });

  it("refuses them at delivery time, recording the refusal as a failed attempt", async () => {
    const created = await t.inject({
      method: "POST",
      url: "/v1/webhooks/endpoints",
      headers: { authorization: `Bearer ${p.a.secretKey}` },
      payload: { url: "https://hooks.example.com/x", eventTypes: ["tenant.*"] },
    });
    const endpointId = created.json().id as string;
    // The row is changed behind the API's back: delivery must check again.
    await t.app.db.kysely
      .updateTable("webhook_endpoint")
      .set({ url: `${receiver.url}/hook` })
      .where("id", "=", endpointId)
      .execute();
    await t.inject({
      method: "POST",
      url: "/v1/tenants",
      headers: { authorization: `Bearer ${p.a.secretKey}` },
      payload: { name: "Acme" },
    });
    await runDueJobs(t);
    expect(receiver.received).toHaveLength(0);
    const messages = await t.inject({
      method: "GET",
      url: `/v1/webhooks/endpoints/${endpointId}/messages`,
      headers: { authorization: `Bearer ${p.a.secretKey}` },
    });
    const [message] = messages.json().data;
    const attempts = await t.inject({
      method: "GET",
      url: `/v1/webhooks/messages/${message.id}/attempts`,
      headers: { authorization: `Bearer ${p.a.secretKey}` },
    });
    expect(attempts.json().data[0]).toMatchObject({ outcome: "failed", statusCode: null });
    expect(attempts.json().data[0].error).toMatch(/refused/);
  });
});
