import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { checkBoundaries } from "../../../scripts/check-boundaries.js";

describe("architecture boundaries", () => {
  const root = mkdtempSync(join(tmpdir(), "baseplate-boundaries-"));
  const write = (path: string, content: string) => {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), content);
  };
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it("flags platform → modules, module internals, and the composition root", () => {
    write("platform/http/bad.ts", 'import { x } from "../../modules/tenancy/index.js";\n');
    write("platform/db/bad.ts", 'import type { App } from "../../app.js";\n');
    write(
      "modules/billing/service.ts",
      'import { usage } from "../usage/internal/meter.js";\nexport { a } from "../usage/service.js";\n',
    );
    write(
      "modules/billing/ok.ts",
      'import { usage } from "../usage/index.js";\nimport { db } from "../../platform/db/index.js";\nimport { own } from "./internal/x.js";\n',
    );
    write("modules/usage/lazy.ts", 'const m = await import("../billing/routes.js");\n');
    const violations = checkBoundaries(root);
    expect(violations.map((v) => `${v.file} ${v.specifier}`).sort()).toEqual(
      [
        "modules/billing/service.ts ../usage/internal/meter.js",
        "modules/billing/service.ts ../usage/service.js",
        "modules/usage/lazy.ts ../billing/routes.js",
        "platform/db/bad.ts ../../app.js",
        "platform/http/bad.ts ../../modules/tenancy/index.js",
      ].sort(),
    );
  });

  it("the project itself has no violations", () => {
    const src = resolve(dirname(fileURLToPath(import.meta.url)), "../src");
    expect(checkBoundaries(src)).toEqual([]);
  });
});
