/**
 * write-openapi writes `openapi.json` at the repository root: the OpenAPI 3.1 document of the
 * shipped plane (the default `MODULES`), exactly as `renderOpenApi` renders it. `npm run openapi`
 * runs it; `packages/server/test/openapi.test.ts` fails while the committed file is stale.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { createApp } from "../packages/server/src/app.js";
import { loadConfig } from "../packages/server/src/config.js";

/** OPENAPI_FILE is the committed document's path. */
export const OPENAPI_FILE = resolve(dirname(fileURLToPath(import.meta.url)), "..", "openapi.json");

/**
 * renderOpenApi composes the shipped plane on a throw-away SQLite database (the document does not
 * depend on the environment or the database) and returns its document serialised as committed.
 */
export async function renderOpenApi(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), "baseplate-openapi-"));
  try {
    const config = loadConfig({ BASEPLATE_DATA_DIR: dir, BASEPLATE_LOG_LEVEL: "silent", BASEPLATE_WORKERS: "false" });
    const app = await createApp({ config });
    try {
      return `${JSON.stringify(app.openapi(), null, 2)}\n`;
    } finally {
      await app.db.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  writeFileSync(OPENAPI_FILE, await renderOpenApi());
  process.stdout.write(`wrote ${OPENAPI_FILE}\n`);
}
