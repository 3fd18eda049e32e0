import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";
import { BaseSequencer, type TestSpecification } from "vitest/node";

/**
 * LONGEST_FIRST names the files that take longest (the isolation replay, the durability and race
 * suites that kill processes, the sweeps), longest first. Vitest runs files it has no record of
 * largest first, and these are small files that run long: on a fresh clone (CI) they came last
 * and ended the run alone. Started first, the short files fill the workers around them.
 */
const LONGEST_FIRST = [
  /test\/isolation-(sqlite|postgres)-\d\.test\.ts$/,
  /test\/(webhooks|billing|audit)-durability\.test\.ts$/,
  /test\/durability\.test\.ts$/,
  /test\/input-sweep\.test\.ts$/,
  /test\/(fuzz|facts-coverage|usage-races|throttle|denials-audit|races-access)\.test\.ts$/,
  /test\/console-.*browser\.test\.ts$/,
];

class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const rank = (f: TestSpecification) => {
      const i = LONGEST_FIRST.findIndex((pattern) => pattern.test(f.moduleId));
      return i === -1 ? LONGEST_FIRST.length : i;
    };
    return sorted
      .map((file, i) => ({ file, i, rank: rank(file) }))
      .sort((a, b) => a.rank - b.rank || a.i - b.i)
      .map(({ file }) => file);
  }
}

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
    sequence: { sequencer: LongestFirst },
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Tests that spawn server processes are CPU-heavy; keep parallelism modest on 2 cores.
    maxWorkers: 3,
  },
});
