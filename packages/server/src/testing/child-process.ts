import { createApp, MODULES } from "../app.js";
import { loadConfig } from "../config.js";
import { auditModule } from "../modules/audit/index.js";
import { billingModule } from "../modules/billing/index.js";
import { probeModule, probeModuleWith } from "./probe-module.js";

/**
 * A plane process for durability tests, run with `node --import tsx child-process.ts <mode>`:
 * - `enqueue`: enqueue PROBE_ENQUEUE jobs in committed transactions and one in a rolled-back
 *   transaction, print their ids, then run workers (if BASEPLATE_WORKERS) until killed;
 * - `work`: run workers until killed or SIGTERM;
 * - `serve`: listen on BASEPLATE_PORT and print a probe token whose credential id is fixed, so
 *   idempotency scopes survive a restart.
 * - `serve-plane`: like `serve`, with the whole plane (`MODULES`) registered besides the probe
 *   module, for tests that need several plane processes on one database (revocation).
 * - `serve-audit`: like `serve`, with the audit module besides the probe module (audit chains
 *   under concurrent writers and SIGKILL).
 * - `work-plane`: like `work`, with the whole plane registered (webhook delivery workers).
 * - `finalize-billing`: the whole plane; once ready, ends every due billing period (the
 *   `billing.advance_periods` job's work, by the system clock), then idles until killed.
 * Prints one JSON line on stdout when ready. SIGTERM stops gracefully (exit 0).
 */
const mode = process.argv[2] ?? "work";
const config = loadConfig(process.env);
const serving = mode === "serve" || mode === "serve-plane" || mode === "serve-audit";
const probe = probeModuleWith({ jobDelayMs: Number(process.env.PROBE_JOB_DELAY_MS ?? 0) });
const modules =
  mode === "serve-plane" || mode === "work-plane" || mode === "finalize-billing"
    ? [...MODULES, probe]
    : mode === "serve-audit"
      ? [auditModule, probe]
      : [probe];
const app = await createApp({ config, modules });
await app.start({ listen: serving, workers: false });

const ready: Record<string, unknown> = { ready: true, pid: process.pid };
if (mode === "enqueue") {
  const committed: string[] = [];
  for (let i = 0; i < Number(process.env.PROBE_ENQUEUE ?? 1); i++) {
    const id = await app.db.transaction((tx) => app.jobs.enqueue(tx, "probe.record", { i }));
    committed.push(id as string);
  }
  let rolledBack: string | null = null;
  await app.db
    .transaction(async (tx) => {
      rolledBack = await app.jobs.enqueue(tx, "probe.record", { rolledBack: true });
      throw new Error("roll back on purpose");
    })
    .catch(() => undefined);
  Object.assign(ready, { committed, rolledBack });
}
if (serving) {
  ready.url = `http://${config.host}:${config.port}`;
  ready.token = app.service(probeModule).issueToken({
    actorType: "service",
    actorId: "svc_durability",
    credentialId: "cred_durability",
    environmentId: "env_durability",
    permissions: ["*"],
  });
}
if (config.workers.enabled) app.worker.start();
// Stay alive until told to stop, even with nothing to serve or run (mode `work` without workers).
const keepAlive = setInterval(() => undefined, 1 << 30);
process.once("SIGTERM", () => {
  clearInterval(keepAlive);
  app.stop().then(
    () => process.exit(0),
    () => process.exit(1),
  );
});

// NOTE: the handler above must exist before the ready line: a parent may signal at once.
process.stdout.write(`${JSON.stringify(ready)}\n`);
if (mode === "finalize-billing") await app.service(billingModule).subscriptions.advanceDue();
