import { createApp } from "../app.js";
import { loadConfig } from "../config.js";
import type { AnyModule } from "../platform/module.js";
import { defineCommand } from "./command.js";
import type { CliIo } from "./io.js";

/** rotateMaster runs `baseplate keys rotate-master`, printing progress for large planes. */
async function rotateMaster(io: CliIo, modules?: readonly AnyModule[]): Promise<number> {
  const config = loadConfig(io.env);
  const app = await createApp({ config: { ...config, logLevel: "warn" }, ...(modules ? { modules } : {}) });
  try {
    await app.start({ listen: false, workers: false });
    const columns = app.sealedColumns;
    io.out(`Rotating the master key in ${config.masterKeyFile} (${columns.length} sealed column(s))…`);
    let last = 0;
    const { keyId, rewrapped } = await app.secrets.rotate(columns, (done, total) => {
      if (done === total || done - last >= 1000) {
        last = done;
        io.out(`  re-wrapped ${done} of ${total} secret(s)`);
      }
    });
    io.out(`Master key ${keyId} is now current; ${rewrapped} secret(s) re-wrapped under it.`);
    io.out(`Back up ${config.masterKeyFile} again: older keys stay in it until you remove them.`);
    return 0;
  } finally {
    await app.stop();
  }
}

/** rotateMasterCommand: `baseplate keys rotate-master`. */
export const rotateMasterCommand = defineCommand({
  name: "keys rotate-master",
  section: "local",
  summary: "Add a new master key to BASEPLATE_MASTER_KEY_FILE and re-wrap every stored secret under it.",
  description:
    "Online: running servers pick the new key up by themselves. Old keys stay in the file for\n" +
    "backups; back the file up again afterwards.",
  run: ({ io, modules }) => rotateMaster(io, modules),
});
