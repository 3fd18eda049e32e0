import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { VERSION } from "../app.js";
import { startMcpHttp } from "../mcp/http.js";
import { createSdkPlaneClient } from "../mcp/sdk-client.js";
import { createMcpServer } from "../mcp/server.js";
import { defineCommand } from "./command.js";
import type { CliIo } from "./io.js";

const list = (raw: string): string[] =>
  raw
    .split(",")
    .map((v) => v.trim())
    .filter((v) => v !== "");

/**
 * mcpCommand is `baseplate mcp`: an MCP server on stdio (one agent key, from flags or the
 * environment) or on streamable HTTP (`--http`, one key per client). It resolves with the exit
 * code when the client disconnects (stdio) or on SIGINT/SIGTERM. Nothing but MCP is written to
 * stdout in stdio mode; messages go to stderr.
 */
export const mcpCommand = defineCommand({
  name: "mcp",
  section: "remote",
  summary: "Serve the plane's tools to AI agents over MCP, acting with an agent key (docs/mcp.md).",
  description:
    "stdio (default): one agent key from --agent-key or BASEPLATE_AGENT_KEY, the plane from --url or\n" +
    "BASEPLATE_URL (the key's tenant and permissions come from the plane). --http: streamable HTTP on\n" +
    "127.0.0.1; each client sends its own key as `Authorization: Bearer bp_ak_…`.",
  flags: {
    http: { type: "boolean", description: "Serve streamable HTTP instead of stdio." },
    port: {
      type: "string",
      value: "N",
      description: "The HTTP port (default 8765; 0 picks a free one).",
      parse: (raw) => {
        const port = Number(raw);
        if (!/^\d+$/.test(raw) || port > 65_535) throw new Error("must be a port number (0–65535)");
        return port;
      },
    },
    host: { type: "string", value: "HOST", description: "The HTTP address to bind (default 127.0.0.1)." },
    url: {
      type: "string",
      value: "URL",
      description: "The plane's base URL (default BASEPLATE_URL or http://127.0.0.1:8080).",
      parse: (raw) => {
        if (!/^https?:\/\/[^/]+/.test(raw)) throw new Error("must be an http(s) URL");
        return raw;
      },
    },
    "agent-key": { type: "string", value: "KEY", description: "The agent key `bp_ak_…` (stdio)." },
    "allowed-host": {
      type: "string",
      value: "HOSTS",
      description: "More Host names the HTTP server answers, comma-separated.",
      parse: list,
    },
    "allowed-origin": {
      type: "string",
      value: "ORIGINS",
      description: "Browser origins allowed to call the HTTP server, comma-separated.",
      parse: list,
    },
  },
  examples: [
    "BASEPLATE_AGENT_KEY=bp_ak_… baseplate mcp",
    "baseplate mcp --http --port 8765 --url https://plane.example.com",
  ],
  run: ({ io, flags }) => serveMcp(io, flags),
});

async function serveMcp(io: CliIo, values: Record<string, unknown>): Promise<number> {
  const url = (values.url as string | undefined) ?? io.env.BASEPLATE_URL ?? "http://127.0.0.1:8080";
  if (!/^https?:\/\/[^/]+/.test(url)) {
    io.err(`baseplate mcp: --url (or BASEPLATE_URL) must be an http(s) URL, got "${url}".`);
    return 2;
  }
  const userAgent = `baseplate-mcp/${VERSION}`;
  if (values.http) {
    const port = (values.port as number | undefined) ?? 8765;
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
  const server = createMcpServer({
    plane: createSdkPlaneClient({ baseUrl: url, token, userAgent }),
    token,
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
