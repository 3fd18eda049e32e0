import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../src/cli/index.js";
import { startMcpHttp } from "../src/mcp/http.js";
import { createSdkPlaneClient } from "../src/mcp/sdk-client.js";
import { TOOLS } from "../src/mcp/tools/index.js";
import { type SeededPlane, seedPlane, TEST_PASSWORD } from "../src/testing/fixtures.js";
import { createTestApp, describeEachEngine, type TestApp } from "../src/testing/harness.js";
import { freePort } from "../src/testing/spawn.js";

// `baseplate mcp` gives an agent the plane's primitives as MCP tools, acting with its agent key
// through the public API. The official MCP client drives it over both transports (a `baseplate mcp`
// child on stdio; streamable HTTP) against a listening plane: tools within the delegation work and
// are audited as agent → user; outside it, in another tenant, or with a revoked key they are tool
// errors; a retried call with the same callId acts once; HTTP refuses a missing or wrong bearer and
// foreign Host/Origin headers.

type Json = Record<string, unknown>;
const SERVER_DIR = fileURLToPath(new URL("..", import.meta.url));
const MAIN = fileURLToPath(new URL("../src/main.ts", import.meta.url));
const DOC = fileURLToPath(new URL("../../../docs/mcp.md", import.meta.url));

/** The broad agent's delegation: everything the tools use except removing members. */
const BROAD = [
  "tenants:read",
  "members:read",
  "members:invite",
  "members:update",
  "agents:read",
  "audit:read",
  "events:read",
  "events:publish",
  "webhooks:read",
];

interface Tool {
  isError: boolean;
  text: string;
  data: Json;
}

async function callTool(client: Client, name: string, args: Json = {}): Promise<Tool> {
  const result = await client.callTool({ name, arguments: args });
  const content = result.content as Array<{ type: string; text?: string }>;
  return {
    isError: result.isError === true,
    text: content.map((c) => c.text ?? "").join("\n"),
    data: (result.structuredContent ?? {}) as Json,
  };
}

describeEachEngine("baseplate mcp", (engine) => {
  let t: TestApp;
  let p: SeededPlane;
  let planeUrl: string;
  let tenantId: string;
  let otherTenantId: string;
  let ownerId: string;
  let owner: string;
  let broad: { id: string; token: string };
  let narrow: { id: string; token: string };
  let mcpUrl: string;
  let stopHttp: () => Promise<void>;
  let stdio: Client;
  const clients: Client[] = [];

  async function api(token: string | null, method: string, path: string, body?: unknown) {
    const res = await fetch(`${planeUrl}${path}`, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body !== undefined ? { "content-type": "application/json" } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : {}) as Json };
  }
  async function ok(token: string | null, method: string, path: string, body?: unknown): Promise<Json> {
    const res = await api(token, method, path, body);
    expect(res.status, JSON.stringify(res.body)).toBeLessThan(300);
    return res.body;
  }
  async function newUser(email: string): Promise<string> {
    return (await ok(p.a.secretKey, "POST", "/v1/users", { email, password: TEST_PASSWORD })).id as string;
  }
  async function agentKey(name: string, scopes: string[]) {
    const issued = await ok(owner, "POST", `/v1/tenants/${tenantId}/agent-keys`, { name, model: "test-model", scopes });
    return { id: issued.id as string, token: issued.token as string };
  }
  async function stdioClient(token: string, env: Record<string, string> = {}): Promise<Client> {
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: ["--import", "tsx", MAIN, "mcp"],
      cwd: SERVER_DIR,
      env: {
        ...(process.env as Record<string, string>),
        BASEPLATE_URL: planeUrl,
        BASEPLATE_AGENT_KEY: token,
        ...env,
      },
      stderr: "pipe",
    });
    const client = new Client({ name: "mcp-test", version: "1.0.0" });
    await client.connect(transport);
    clients.push(client);
    return client;
  }
  async function httpClient(token: string, headers: Record<string, string> = {}): Promise<Client> {
    const transport = new StreamableHTTPClientTransport(new URL(mcpUrl), {
      requestInit: { headers: { authorization: `Bearer ${token}`, ...headers } },
    });
    const client = new Client({ name: "mcp-test", version: "1.0.0" });
    await client.connect(transport);
    clients.push(client);
    return client;
  }
  async function members(): Promise<Json[]> {
    return (await ok(p.a.secretKey, "GET", `/v1/tenants/${tenantId}/members?limit=100`)).data as Json[];
  }
  async function audit(action: string): Promise<Json[]> {
    const page = await ok(p.a.secretKey, "GET", `/v1/tenants/${tenantId}/audit/entries?action=${action}&limit=100`);
    return page.data as Json[];
  }

  beforeAll(async () => {
    const port = await freePort();
    t = await createTestApp(engine, {
      plane: true,
      migrate: false,
      env: { BASEPLATE_HOST: "127.0.0.1", BASEPLATE_PORT: String(port), BASEPLATE_MIGRATE_ON_START: "true" },
    });
    planeUrl = (await t.app.start({ workers: false })) as string;
    p = await seedPlane(t);
    tenantId = (await ok(p.a.secretKey, "POST", "/v1/tenants", { name: "Acme" })).id as string;
    otherTenantId = (await ok(p.a.secretKey, "POST", "/v1/tenants", { name: "Globex" })).id as string;
    ownerId = await newUser("owner@example.com");
    await ok(p.a.secretKey, "POST", `/v1/tenants/${tenantId}/members`, { userId: ownerId, roles: ["owner"] });
    owner = (
      await ok(null, "POST", "/v1/auth/login", {
        surfaceId: p.a.surfaceId,
        email: "owner@example.com",
        password: TEST_PASSWORD,
      })
    ).token as string;
    // Roles the agent may grant: no wider than its own permissions.
    await ok(p.a.secretKey, "POST", "/v1/roles", { key: "viewer", name: "Viewer", permissions: ["members:read"] });
    await ok(p.a.secretKey, "POST", "/v1/roles", { key: "auditor", name: "Auditor", permissions: ["audit:read"] });
    broad = await agentKey("assistant", BROAD);
    narrow = await agentKey("reader", ["members:read"]);
    const http = await startMcpHttp({
      host: "127.0.0.1",
      port: 0,
      planeFor: (token) => createSdkPlaneClient({ baseUrl: planeUrl, token, userAgent: "baseplate-mcp/test" }),
    });
    mcpUrl = http.url;
    stopHttp = http.close;
    stdio = await stdioClient(broad.token);
  }, 120_000);

  afterAll(async () => {
    for (const client of clients) await client.close().catch(() => undefined);
    await stopHttp?.();
    await t?.close();
  });

  it("lists every tool over both transports, mutating ones with a required callId", async () => {
    const http = await httpClient(broad.token);
    for (const client of [stdio, http]) {
      const { tools } = await client.listTools();
      expect(tools.map((tool) => tool.name)).toEqual(TOOLS.map((tool) => tool.name));
      for (const tool of tools) {
        const spec = TOOLS.find((s) => s.name === tool.name);
        expect(tool.description).toBeTruthy();
        expect(tool.annotations?.readOnlyHint).toBe(!spec?.mutating);
        if (spec?.mutating) expect(tool.inputSchema.required).toContain("callId");
      }
    }
  });

  it("whoami names the agent, its user and its tenant", async () => {
    const me = await callTool(stdio, "whoami");
    expect(me.isError).toBe(false);
    expect(me.data).toMatchObject({ agentKeyId: broad.id, agentName: "assistant", userId: ownerId, tenantId });
    expect(me.text).toContain(ownerId);
    expect(JSON.stringify(me.data)).not.toContain(broad.token);
    // The plane tells the key its tenant and effective permissions (GET /v1/credentials/self), over
    // either transport: tools act in that tenant without being told.
    expect((me.data.permissions as string[]).length).toBeGreaterThan(0);
    const overHttp = await httpClient(broad.token);
    expect((await callTool(overHttp, "whoami")).data).toEqual(me.data);
    expect((await callTool(overHttp, "members_list")).isError).toBe(false);
  });

  it("acts within the delegation, audited as the agent on behalf of its user", async () => {
    const bob = await newUser("bob@example.com");
    const added = await callTool(stdio, "members_add", { userId: bob, roles: ["viewer"], callId: "add-bob" });
    expect(added.isError, added.text).toBe(false);
    expect(added.data).toMatchObject({ userId: bob, tenantId, roles: ["viewer"] });

    const [entry] = (await audit("membership.created")).filter((e) =>
      (e.targets as Json[]).some((target) => target.id === added.data.id),
    );
    expect(entry?.actor).toMatchObject({
      type: "agent",
      id: broad.id,
      displayName: "assistant",
      model: "test-model",
      onBehalfOf: { type: "user", id: ownerId },
    });
    expect((entry?.context as Json | undefined)?.userAgent).toContain("baseplate-mcp/");

    // The agent reads the same entry through its own audit tool, and sees the tenant and members.
    const seen = await callTool(stdio, "audit_query", { action: "membership.created", actorId: broad.id });
    expect(seen.isError, seen.text).toBe(false);
    expect((seen.data.data as Json[]).map((e) => (e.actor as Json).onBehalfOf)).toContainEqual({
      type: "user",
      id: ownerId,
      reason: null,
    });
    expect((await callTool(stdio, "tenants_get")).data).toMatchObject({ id: tenantId, name: "Acme" });
    const listed = await callTool(stdio, "members_list");
    expect((listed.data.data as Json[]).map((m) => m.userId).sort()).toEqual([bob, ownerId].sort());

    const updated = await callTool(stdio, "members_update", {
      membershipId: added.data.id,
      roles: ["auditor"],
      callId: "promote-bob",
    });
    expect(updated.data).toMatchObject({ roles: ["auditor"] });
    expect((await callTool(stdio, "webhooks_status")).data).toMatchObject({ tenantId, endpoints: [] });
  });

  it("refuses what the delegation does not allow with a forbidden tool error", async () => {
    const reader = await httpClient(narrow.token);
    expect((await callTool(reader, "members_list")).isError).toBe(false);
    const refused = await callTool(reader, "invitations_create", {
      email: "eve@example.com",
      roles: ["member"],
      callId: "invite-eve",
    });
    expect(refused.isError).toBe(true);
    expect(refused.data.error).toMatchObject({ code: "forbidden", status: 403 });
    expect(refused.text).toContain("members:invite");
    // The broad agent lacks members:remove too.
    const member = (await members()).find((m) => m.userId === ownerId) as Json;
    const removal = await callTool(stdio, "members_remove", { membershipId: member.id, callId: "rm-owner" });
    expect(removal.data.error).toMatchObject({ code: "forbidden" });
    expect((await members()).some((m) => m.userId === ownerId)).toBe(true);
  });

  it("answers another tenant's id as not found", async () => {
    const other = await callTool(stdio, "tenants_get", { tenantId: otherTenantId });
    expect(other.isError).toBe(true);
    expect(other.data.error).toMatchObject({ code: "not_found", status: 404 });
    const listing = await callTool(stdio, "members_list", { tenantId: otherTenantId });
    expect(listing.data.error).toMatchObject({ status: 404 });
  });

  it("acts once for a retried call with the same callId, across processes and transports", async () => {
    const carol = await newUser("carol@example.com");
    const args = { userId: carol, roles: ["viewer"], callId: "add-carol-1" };
    const first = await callTool(stdio, "members_add", args);
    const again = await callTool(stdio, "members_add", args);
    // Another MCP server process (the HTTP one) derives the same Idempotency-Key from key, tool and callId.
    const elsewhere = await callTool(await httpClient(broad.token), "members_add", args);
    expect(first.isError, first.text).toBe(false);
    expect(again.data).toEqual(first.data);
    expect(elsewhere.data).toEqual(first.data);
    expect((await members()).filter((m) => m.userId === carol)).toHaveLength(1);
    const created = (await audit("membership.created")).filter((e) =>
      (e.targets as Json[]).some((target) => target.id === first.data.id),
    );
    expect(created).toHaveLength(1);
    // The same callId with other arguments is another action: refused, not applied.
    const reused = await callTool(stdio, "members_add", { ...args, roles: ["auditor"] });
    expect(reused.data.error).toMatchObject({ status: 422 });
    // A new callId is a new action (here refused by the plane: carol is a member already).
    expect((await callTool(stdio, "members_add", { ...args, callId: "add-carol-2" })).isError).toBe(true);

    const invite = { email: "dave@example.com", roles: ["viewer"], callId: "invite-dave" };
    const issued = await callTool(stdio, "invitations_create", invite);
    const replayed = await callTool(stdio, "invitations_create", invite);
    expect(issued.isError, issued.text).toBe(false);
    expect(replayed.data.id).toBe(issued.data.id);
    expect(replayed.data.token).toBeNull(); // shown once: a replay never carries it
    const invitations = (await callTool(stdio, "invitations_list")).data.data as Json[];
    expect(invitations.filter((i) => i.email === "dave@example.com")).toHaveLength(1);

    // PATCH has no plane ledger: the server answers a retry from memory, and refuses other arguments.
    const membership = first.data.id as string;
    const promote = { membershipId: membership, roles: ["auditor"], callId: "promote-carol" };
    const promoted = await callTool(stdio, "members_update", promote);
    await ok(p.a.secretKey, "PATCH", `/v1/tenants/${tenantId}/members/${membership}`, { roles: ["viewer"] });
    expect((await callTool(stdio, "members_update", promote)).data).toEqual(promoted.data);
    expect((await members()).find((m) => m.id === membership)?.roles).toEqual(["viewer"]);
  });

  it("publishes events, reports usage and holds usage once per callId; removes a member once", async () => {
    await ok(p.a.secretKey, "POST", "/v1/events/types", {
      name: "report.generated",
      description: "A report is ready.",
    });
    await ok(p.a.secretKey, "POST", "/v1/usage/meters", {
      key: "tokens",
      eventType: "llm.call",
      aggregation: "sum",
      valuePath: "tokens",
    });
    await ok(p.a.secretKey, "POST", `/v1/tenants/${tenantId}/entitlements`, {
      feature: "ai",
      meter: "tokens",
      limit: 100,
      period: "month",
    });
    const ops = await agentKey("operator", [
      "events:publish",
      "events:read",
      "usage:report",
      "usage:read",
      "entitlements:read",
      "members:read",
      "members:remove",
    ]);
    const client = await httpClient(ops.token);

    const publish = { type: "report.generated", subject: "weekly", data: { pages: 3 }, callId: "publish-1" };
    const event = await callTool(client, "events_publish", publish);
    expect(event.isError, event.text).toBe(false);
    expect((await callTool(client, "events_publish", publish)).data.id).toBe(event.data.id);
    const events = await callTool(client, "events_list", { types: "report.generated" });
    expect((events.data.data as Json[]).map((e) => e.id)).toEqual([event.data.id]);

    const report = { type: "llm.call", data: { tokens: 10 }, callId: "report-1" };
    const reported = await callTool(client, "usage_report", report);
    expect(reported.isError, reported.text).toBe(false);
    expect((await callTool(client, "usage_report", report)).data.id).toBe(reported.data.id);

    const reserve = { feature: "ai", amount: 30, callId: "hold-1" };
    const hold = await callTool(client, "usage_hold_reserve", reserve);
    expect(hold.data).toMatchObject({ tenantId, status: "open", amount: 30 });
    expect((await callTool(client, "usage_hold_reserve", reserve)).data.id).toBe(hold.data.id);
    const check = await callTool(client, "usage_check", { feature: "ai", amount: 1 });
    expect(check.data).toMatchObject({ allowed: true, limit: 100, held: 30 });
    const commit = { holdId: hold.data.id, amount: 5, callId: "commit-1" };
    expect((await callTool(client, "usage_hold_commit", commit)).data).toMatchObject({ status: "committed" });
    expect((await callTool(client, "usage_hold_commit", commit)).data).toMatchObject({ committedAmount: 5 });
    const late = await callTool(client, "usage_hold_release", { holdId: hold.data.id, callId: "release-1" });
    expect(late).toMatchObject({ isError: true, data: { error: { status: 409 } } });
    expect((await callTool(client, "usage_hold_get", { holdId: hold.data.id })).data).toMatchObject({
      status: "committed",
    });

    const erin = await newUser("erin@example.com");
    const membership = (
      await ok(p.a.secretKey, "POST", `/v1/tenants/${tenantId}/members`, { userId: erin, roles: ["viewer"] })
    ).id as string;
    const removal = { membershipId: membership, callId: "remove-erin" };
    const removed = await callTool(client, "members_remove", removal);
    expect(removed.isError, removed.text).toBe(false);
    expect(await callTool(client, "members_remove", removal)).toEqual(removed);
    expect((await members()).some((m) => m.userId === erin)).toBe(false);
    expect(await audit("membership.deleted")).toHaveLength(1);
  });

  it("refuses a revoked key: tool errors on stdio, 401 over HTTP", async () => {
    const doomed = await agentKey("doomed", ["members:read"]);
    const client = await stdioClient(doomed.token);
    expect((await callTool(client, "members_list")).isError).toBe(false);
    await ok(owner, "POST", `/v1/tenants/${tenantId}/agent-keys/${doomed.id}/revoke`);
    const after = await callTool(client, "members_list");
    expect(after.isError).toBe(true);
    expect(after.data.error).toMatchObject({ status: 401 });
    const res = await post(mcpUrl, { authorization: `Bearer ${doomed.token}` });
    expect(res.status).toBe(401);
    // The server's own probes and look-ups are never refusals the tenant's audit log must review.
    const denials = await audit("access.denied");
    expect(denials.length).toBeGreaterThan(0);
    expect(denials.map((e) => (e.metadata as Json).reason)).not.toContain("credential_not_accepted");
  });

  it("refuses HTTP requests without a bearer, with a wrong one, or from a foreign Host or Origin", async () => {
    const none = await post(mcpUrl, {});
    expect(none.status).toBe(401);
    expect(none.headers["www-authenticate"]).toContain("Bearer");
    expect((await post(mcpUrl, { authorization: "Bearer bp_ak_notarealkeynotarealkeynotarealkey" })).status).toBe(401);
    expect((await post(mcpUrl, { authorization: `Bearer ${p.a.secretKey}` })).status).toBe(401);
    const auth = { authorization: `Bearer ${broad.token}` };
    expect((await post(mcpUrl, { ...auth, origin: "https://evil.example" })).status).toBe(403);
    expect((await post(mcpUrl, { ...auth, host: "evil.example" })).status).toBe(403);
    expect((await post(mcpUrl, auth)).status).toBe(200);
    // The official client gets no session without a key.
    const bare = new Client({ name: "mcp-test", version: "1.0.0" });
    await expect(bare.connect(new StreamableHTTPClientTransport(new URL(mcpUrl)))).rejects.toThrow();
  });

  it("runs the TypeScript client of docs/mcp.md verbatim", async () => {
    const snippet = /<!-- snippet:list-tenants -->\n```ts\n([\s\S]*?)```/.exec(readFileSync(DOC, "utf8"))?.[1];
    expect(snippet).toBeTruthy();
    const dir = mkdtempSync(join(SERVER_DIR, ".mcp-doc-"));
    try {
      const file = join(dir, "list-tenants.ts");
      writeFileSync(file, snippet as string);
      const out = await run(file, {
        BASEPLATE_MCP_URL: mcpUrl,
        BASEPLATE_AGENT_KEY: broad.token,
      });
      expect(out.code, out.stderr).toBe(0);
      expect(out.stdout).toContain(`${TOOLS.length} tools`);
      expect(out.stdout).toContain(`tenant ${tenantId} Acme (active)`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("docs/mcp.md", () => {
  it("lists every tool in its table", () => {
    const doc = readFileSync(DOC, "utf8");
    const table = /<!-- tools:start -->([\s\S]*?)<!-- tools:end -->/.exec(doc)?.[1] ?? "";
    const listed = [...table.matchAll(/^\| `([a-z_]+)` \|/gm)].map((m) => m[1]);
    expect(listed).toEqual(TOOLS.map((tool) => tool.name));
  });
});

describe("baseplate mcp (command line)", () => {
  async function cli(argv: string[], env: Record<string, string> = {}) {
    const lines: string[] = [];
    const code = await runCli(argv, {
      out: (line) => lines.push(line),
      err: (line) => lines.push(line),
      env,
      onSignal: () => undefined,
    });
    return { code, output: lines.join("\n") };
  }

  it("refuses to start without an agent key, or with a bad URL or port, and documents itself", async () => {
    expect(await cli(["mcp"])).toMatchObject({ code: 2, output: expect.stringContaining("BASEPLATE_AGENT_KEY") });
    expect(await cli(["mcp", "--agent-key", "bp_sk_secret"])).toMatchObject({ code: 2 });
    expect(await cli(["mcp", "--url", "ftp://x"], { BASEPLATE_AGENT_KEY: "bp_ak_x" })).toMatchObject({ code: 2 });
    expect(await cli(["mcp", "--http", "--port", "99999"])).toMatchObject({ code: 2 });
    expect(await cli(["mcp", "--bogus"])).toMatchObject({ code: 2 });
    expect((await cli(["mcp", "--help"])).output).toContain("--http");
    expect((await cli(["--help"])).output).toContain("mcp ");
    expect((await cli(["help", "mcp"])).output).toContain("--allowed-origin");
  });
});

/** post sends one MCP initialize request with `headers` (a raw request: Host can be forged). */
function post(url: string, headers: Record<string, string>) {
  const body = JSON.stringify({
    jsonrpc: "2.0",
    id: 1,
    method: "initialize",
    params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "raw", version: "1" } },
  });
  return new Promise<{ status: number; headers: Record<string, string | string[] | undefined> }>((resolve, reject) => {
    const req = request(
      url,
      {
        method: "POST",
        headers: {
          "content-type": "application/json",
          accept: "application/json, text/event-stream",
          "content-length": Buffer.byteLength(body),
          ...headers,
        },
      },
      (res) => {
        res.resume();
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

/** run executes a TypeScript file as a child (`node --import tsx`) and collects its output. */
function run(file: string, env: Record<string, string>) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", file], {
      cwd: SERVER_DIR,
      env: { ...process.env, ...env },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => {
      stdout += String(chunk);
    });
    child.stderr.on("data", (chunk) => {
      stderr += String(chunk);
    });
    child.on("exit", (code) => resolve({ code, stdout, stderr }));
  });
}
