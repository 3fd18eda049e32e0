import { createApp } from "../app.js";
import { loadConfig } from "../config.js";
import type { AnyModule } from "../platform/module.js";
import type { CliIo } from "./index.js";

export const KEYS_HELP = `  keys rotate-master     Add a new master key to BASEPLATE_MASTER_KEY_FILE and re-wrap every stored
                         secret under it, online (running servers pick the new key up by themselves).
                         Old keys stay in the file for backups; back the file up again afterwards.`;

/** keysCommand runs `baseplate keys rotate-master`, printing progress for large planes. */
export async function keysCommand(io: CliIo, sub: string | undefined, modules?: readonly AnyModule[]): Promise<number> {
  if (sub !== "rotate-master") {
    io.err("baseplate: use `baseplate keys rotate-master`.");
    return 2;
  }
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
