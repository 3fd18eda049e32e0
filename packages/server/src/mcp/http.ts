import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { keyFingerprint, type PlaneClient, PlaneProblem } from "./plane.js";
import { createMcpServer, ReplayMemo } from "./server.js";
import { probeKey } from "./tools/index.js";

/** McpHttpOptions configures `baseplate mcp --http`. */
export interface McpHttpOptions {
  /** host to bind (default 127.0.0.1: only this machine's clients). */
  host: string;
  /** port to bind (0: any free port). */
  port: number;
  /** planeFor builds a plane client acting with one client's agent key. */
  planeFor(token: string): PlaneClient;
  /** allowedHosts: extra `Host` header values accepted (loopback names with the port always are). */
  allowedHosts?: readonly string[];
  /** allowedOrigins: extra browser `Origin`s accepted (loopback origins with the port always are). */
  allowedOrigins?: readonly string[];
  /** path the MCP endpoint is served at (default `/mcp`). */
  path?: string;
  /** acceptedTtlMs: how long the plane's acceptance of a key is reused (default 5 s). */
  acceptedTtlMs?: number;
}

/** McpHttpServer is a listening streamable-HTTP MCP endpoint. */
export interface McpHttpServer {
  /** url of the MCP endpoint, e.g. `http://127.0.0.1:8765/mcp`. */
  url: string;
  close(): Promise<void>;
}

const AGENT_KEY = /^bp_ak_[A-Za-z0-9_-]{16,200}$/;

/**
 * startMcpHttp serves the MCP streamable HTTP transport, stateless: every POST is one JSON-RPC
 * exchange with a server built for the agent key in its `Authorization: Bearer bp_ak_…` header,
 * so each client acts with exactly its own key. Before anything is parsed it refuses (DNS
 * rebinding, MCP "Security Warning"): a `Host` not among the allowed ones and a browser `Origin`
 * not among the allowed ones (403); then a missing or malformed bearer, or one the plane refuses
 * (401 with `WWW-Authenticate: Bearer`). NOTE: bound to 127.0.0.1 by default; behind a proxy,
 * add its public host and origin explicitly.
 */
export async function startMcpHttp(options: McpHttpOptions): Promise<McpHttpServer> {
  const path = options.path ?? "/mcp";
  const ttl = options.acceptedTtlMs ?? 5000;
  const replays = new ReplayMemo();
  const accepted = new Map<string, number>();
  let allowedHosts = new Set<string>();
  let allowedOrigins = new Set<string>();

  /** accepts asks the plane about a key (cached positively for `ttl`; refusals are never cached). */
  const accepts = async (token: string): Promise<boolean> => {
    const fingerprint = keyFingerprint(token);
    const at = accepted.get(fingerprint);
    if (at !== undefined && Date.now() - at < ttl) return true;
    if (!(await probeKey(options.planeFor(token)))) return false;
    accepted.set(fingerprint, Date.now());
    if (accepted.size > 10_000) accepted.delete(accepted.keys().next().value as string);
    return true;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? "/", "http://localhost");
    const host = (req.headers.host ?? "").toLowerCase();
    if (!allowedHosts.has(host)) return refuse(res, 403, `Host "${host}" is not allowed.`);
    const origin = req.headers.origin;
    if (origin !== undefined && !allowedOrigins.has(origin.toLowerCase())) {
      return refuse(res, 403, `Origin "${origin}" is not allowed.`);
    }
    if (url.pathname !== path) return refuse(res, 404, `The MCP endpoint is ${path}.`);
    if (req.method !== "POST") {
      res.setHeader("allow", "POST");
      return refuse(res, 405, "This MCP server is stateless: POST JSON-RPC messages only.");
    }
    const bearer = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? "")?.[1];
    if (!bearer || !AGENT_KEY.test(bearer)) {
      return refuse(res, 401, "Send an agent key: `Authorization: Bearer bp_ak_…`.");
    }
    try {
      if (!(await accepts(bearer))) return refuse(res, 401, "The plane refused this agent key.");
    } catch (err) {
      const detail = err instanceof PlaneProblem ? err.detail : "The plane could not be asked about this key.";
      return refuse(res, 502, detail);
    }
    const server = createMcpServer({
      plane: options.planeFor(bearer),
      token: bearer,
      replays,
    });
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    res.on("close", () => {
      void transport.close();
      void server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(req, res);
  };

  const http: Server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) refuse(res, 500, "The MCP server failed on this request.");
      else res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    http.once("error", reject);
    http.listen(options.port, options.host, () => resolve());
  });
  const address = http.address();
  const port = typeof address === "object" && address ? address.port : options.port;
  const names = ["127.0.0.1", "localhost", "[::1]", options.host.includes(":") ? `[${options.host}]` : options.host];
  allowedHosts = new Set([...names.map((n) => `${n}:${port}`), ...(options.allowedHosts ?? [])].map(lower));
  allowedOrigins = new Set([...names.map((n) => `http://${n}:${port}`), ...(options.allowedOrigins ?? [])].map(lower));
  const shown = options.host.includes(":") ? `[${options.host}]` : options.host;
  return {
    url: `http://${shown}:${port}${path}`,
    close: () =>
      new Promise<void>((resolve) => {
        http.closeAllConnections();
        http.close(() => resolve());
      }),
  };
}

function lower(value: string): string {
  return value.toLowerCase();
}

/** refuse answers a JSON-RPC error before any MCP exchange (no request id is known yet). */
function refuse(res: ServerResponse, status: number, message: string): void {
  if (status === 401) res.setHeader("www-authenticate", 'Bearer realm="baseplate-mcp"');
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify({ jsonrpc: "2.0", error: { code: -32001, message }, id: null }));
}
