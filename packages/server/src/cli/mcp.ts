import { parseArgs } from "node:util";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { VERSION } from "../app.js";
import { startMcpHttp } from "../mcp/http.js";
import { createSdkPlaneClient } from "../mcp/sdk-client.js";
import { createMcpServer } from "../mcp/server.js";
import type { CliIo } from "./index.js";

/** MCP_HELP is the `baseplate mcp` entry of `baseplate --help`. */
export const MCP_HELP = `  mcp [--http --port N]  Serve the plane's tools to AI agents over MCP (docs/mcp.md), acting with an
                         agent key through the public API. stdio (default): --url, --agent-key, --tenant
                         or BASEPLATE_URL, BASEPLATE_AGENT_KEY, BASEPLATE_TENANT_ID. --http: each client
                         sends its own key as \`Authorization: Bearer bp_ak_…\` (--host [127.0.0.1],
                         --allowed-host, --allowed-origin).`;

const USAGE = `Usage: baseplate mcp [--url URL] [--agent-key KEY] [--tenant ID]
       baseplate mcp --http [--port N] [--host 127.0.0.1] [--url URL] [--allowed-host H] [--allowed-origin O]`;

/**
 * mcpCommand runs `baseplate mcp`: an MCP server on stdio (one agent key, from flags or the
 * environment) or on streamable HTTP (`--http`, one key per client). It resolves with the exit
 * code when the client disconnects (stdio) or on SIGINT/SIGTERM. Nothing but MCP is written to
 * stdout in stdio mode; messages go to stderr.
 */
export async function mcpCommand(argv: string[], io: CliIo): Promise<number> {
  let values: Record<string, string | boolean | string[] | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        http: { type: "boolean" },
        port: { type: "string" },
        host: { type: "string" },
        url: { type: "string" },
        "agent-key": { type: "string" },
        tenant: { type: "string" },
        "allowed-host": { type: "string", multiple: true },
        "allowed-origin": { type: "string", multiple: true },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (err) {
    io.err(`baseplate mcp: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    io.out(`${USAGE}\n\n${MCP_HELP}`);
    return 0;
  }
  const url = (values.url as string | undefined) ?? io.env.BASEPLATE_URL ?? "http://127.0.0.1:8080";
  if (!/^https?:\/\/[^/]+/.test(url)) {
    io.err(`baseplate mcp: --url (or BASEPLATE_URL) must be an http(s) URL, got "${url}".`);
    return 2;
  }
  const userAgent = `baseplate-mcp/${VERSION}`;
  if (values.http) {
    const port = Number((values.port as string | undefined) ?? "8765");
    if (!Number.isInteger(port) || port < 0 || port > 65_535) {
      io.err("baseplate mcp: --port must be a port number (0–65535).");
      return 2;
    }
    const server = await startMcpHttp({
      host: (values.host as string | undefined) ?? "127.0.0.1",
      port,
      planeFor: (token) => createSdkPlaneClient({ baseUrl: url, token, userAgent }),
      allowedHosts: (values["allowed-host"] as string[] | undefined) ?? [],
      allowedOrigins: (values["allowed-origin"] as string[] | undefined) ?? [],
    });
    io.err(`Baseplate MCP server (streamable HTTP) at ${server.url}, acting on ${url}`);
    return new Promise<number>((resolve) => {
      const stop = () => void server.close().then(() => resolve(0));
      io.onSignal("SIGTERM", stop);
      io.onSignal("SIGINT", stop);
    });
  }
  const token = (values["agent-key"] as string | undefined) ?? io.env.BASEPLATE_AGENT_KEY;
  if (!token?.startsWith("bp_ak_")) {
    io.err("baseplate mcp: give an agent key (`bp_ak_…`) with --agent-key or BASEPLATE_AGENT_KEY.");
    return 2;
  }
  const tenantId = (values.tenant as string | undefined) ?? io.env.BASEPLATE_TENANT_ID ?? null;
  const server = createMcpServer({
    plane: createSdkPlaneClient({ baseUrl: url, token, userAgent }),
    token,
    tenantId,
  });
  const transport = new StdioServerTransport();
  return new Promise<number>((resolve) => {
    let done = false;
    const stop = () => {
      if (done) return;
      done = true;
      void server.close().then(() => resolve(0));
    };
    transport.onclose = stop;
    process.stdin.once("end", stop);
    io.onSignal("SIGTERM", stop);
    io.onSignal("SIGINT", stop);
    server.connect(transport).catch((err: unknown) => {
      io.err(`baseplate mcp: ${(err as Error).message}`);
      done = true;
      resolve(1);
    });
  });
}
