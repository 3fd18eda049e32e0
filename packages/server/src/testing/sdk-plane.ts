import { createServer, request, type Server } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { type SeededPlane, seedPlane } from "./fixtures.js";
import { createTestApp, type EngineName, type TestApp } from "./harness.js";

/** ListeningPlane is a seeded test plane served on a loopback port, for tests of HTTP clients. */
export interface ListeningPlane {
  t: TestApp;
  p: SeededPlane;
  /** url: `http://127.0.0.1:PORT`. */
  url: string;
  close(): Promise<void>;
}

/** listenPlane creates a test plane (shipped modules, seeded like `baseplate init`) and serves it on a free port. */
export async function listenPlane(engine: EngineName, env: Record<string, string> = {}): Promise<ListeningPlane> {
  const t = await createTestApp(engine, { plane: true, env });
  const p = await seedPlane(t);
  const url = await t.app.http.fastify.listen({ host: "127.0.0.1", port: 0 });
  return { t, p, url, close: () => t.close() };
}

/** FaultyProxy forwards to a target and can drop the answer of chosen requests after the target handled them. */
export interface FaultyProxy {
  url: string;
  /** dropNext makes the next `count` requests matching `match` reach the target, then cuts the client's connection. */
  dropNext(match: (method: string, path: string) => boolean, count?: number): void;
  /** cut destroys every open connection (an event stream drops as if the network failed). */
  cut(): void;
  /** seen lists every request forwarded: method, path, and its Idempotency-Key. */
  seen: { method: string; path: string; idempotencyKey: string | undefined }[];
  close(): Promise<void>;
}

/** startFaultyProxy serves a proxy to `target` that injects lost responses (see FaultyProxy). */
export async function startFaultyProxy(target: string): Promise<FaultyProxy> {
  const to = new URL(target);
  let rule: { match: (method: string, path: string) => boolean; count: number } | null = null;
  const seen: FaultyProxy["seen"] = [];
  const server: Server = createServer((req, res) => {
    const method = req.method ?? "GET";
    const path = req.url ?? "/";
    const key = req.headers["idempotency-key"];
    seen.push({ method, path, idempotencyKey: Array.isArray(key) ? key[0] : key });
    const drop = rule !== null && rule.count > 0 && rule.match(method, path);
    if (drop && rule) rule.count--;
    const upstream = request(
      { host: to.hostname, port: to.port, method, path, headers: { ...req.headers, host: to.host } },
      (answer) => {
        if (drop) {
          // The target has handled the request; its answer never reaches the client.
          answer.resume();
          answer.on("end", () => req.socket.destroy());
          return;
        }
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on("error", () => req.socket.destroy());
    res.on("close", () => upstream.destroy());
    req.pipe(upstream);
  });
  const sockets = new Set<Socket>();
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    cut() {
      for (const socket of sockets) socket.destroy();
    },
    dropNext(match, count = 1) {
      rule = { match, count };
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * issued reads a create answer that carries a one-time secret: either `{ <wrapper>: { id }, token }`
 * or the created object itself with `token` (or `secret`), so tests hold across both shapes.
 */
export function issued(body: unknown, wrapper: string): { id: string; token: string } {
  const b = body as Record<string, unknown>;
  const inner = (b[wrapper] ?? b) as Record<string, unknown>;
  const token = (b.token ?? b.secret ?? inner.token ?? inner.secret) as string;
  return { id: inner.id as string, token };
}
