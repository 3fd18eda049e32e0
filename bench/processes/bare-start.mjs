// The start baseline: a bare Fastify process (plain Node, no TypeScript loader) serving
// GET /healthz on BENCH_PORT. The start scenario times its spawn to first answer.
import Fastify from "fastify";

const app = Fastify({ logger: false });
app.get("/healthz", async () => ({ status: "ok" }));
await app.listen({ host: "127.0.0.1", port: Number(process.env.BENCH_PORT) });
process.on("SIGTERM", () => void app.close().then(() => process.exit(0)));
