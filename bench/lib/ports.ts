import { createServer } from "node:net";

/**
 * freePort asks the OS for a free TCP port on 127.0.0.1 (bind to port 0, read it, close).
 * NOTE: another process could take the port before the child binds it; on a benchmark machine
 * that race is theoretical, and the child then fails to start with a clear EADDRINUSE.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      if (address === null || typeof address === "string") {
        server.close();
        reject(new Error("could not read the port of a probe socket"));
        return;
      }
      server.close(() => resolve(address.port));
    });
  });
}
