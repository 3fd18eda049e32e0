/**
 * serve.ts runs one Baseplate plane with the probe module registered, as a child process of the
 * benchmark (and of any harness that needs a real server process):
 *
 *   node --import tsx packages/server/src/testing/serve.ts
 *
 * Configuration comes from the `BASEPLATE_*` environment variables (`loadConfig`). Once the
 * server listens it prints exactly one JSON line to stdout,
 * `{"ready":true,"url":"http://127.0.0.1:PORT","token":"bp_probe_…","pid":…,"engine":"sqlite"}`,
 * where `token` is a probe credential with every permission in environment `env_bench`. Logs go
 * to stdout too (JSON, at `BASEPLATE_LOG_LEVEL`), so readers pick the line with `"ready":true`.
 *
 * SIGTERM or SIGINT stops the plane gracefully (requests and jobs drain) and exits 0; a second
 * signal exits at once. NOTE: the process also stops when its parent dies (polled every second),
 * so a killed benchmark never leaves a server behind.
 */
import { createApp } from "../app.js";
import { loadConfig } from "../config.js";
import { type ProbeService, probeModule } from "./probe-module.js";

const config = loadConfig();
const app = await createApp({ config, modules: [probeModule()] });

let address: string | null;
try {
  address = await app.start();
} catch (err) {
  await app.stop().catch(() => undefined);
  throw err;
}

const probe = app.services.get("probe") as ProbeService;
const token = probe.issueToken({
  actorType: "service",
  actorId: "svc_bench",
  credentialId: "cred_bench",
  environmentId: "env_bench",
  permissions: ["*"],
});

let stopping = false;
function shutdown(reason: string): void {
  if (stopping) {
    process.stderr.write(`serve: ${reason} again, exiting now\n`);
    process.exit(1);
  }
  stopping = true;
  const force = setTimeout(() => {
    process.stderr.write("serve: shutdown timed out, exiting\n");
    process.exit(1);
  }, config.shutdownTimeoutMs + 5000);
  force.unref();
  app.stop().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`serve: shutdown failed: ${String(err)}\n`);
      process.exit(1);
    },
  );
}

process.on("SIGTERM", () => shutdown("SIGTERM"));
process.on("SIGINT", () => shutdown("SIGINT"));
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) shutdown("parent exited");
}, 1000).unref();

process.stdout.write(
  `${JSON.stringify({ ready: true, url: address, token, pid: process.pid, engine: config.database.engine })}\n`,
);
