import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

const sdkSource = fileURLToPath(new URL("../sdk/src/", import.meta.url));

export default defineConfig({
  resolve: {
    // Tests run the SDK from its source (`@baseplate/sdk/express` → packages/sdk/src/express.ts), so
    // an SDK change is tested without a build.
    alias: [
      { find: /^@baseplate\/sdk$/, replacement: `${sdkSource}index.ts` },
      { find: /^@baseplate\/sdk\/(.+)$/, replacement: `${sdkSource}$1.ts` },
    ],
  },
  test: {
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
    globalSetup: ["./test/global-setup.ts"],
    pool: "forks",
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Tests that spawn server processes are CPU-heavy; keep parallelism modest on 2 cores.
    maxWorkers: 3,
  },
});
