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
    write(
      "modules/billing/module.ts",
      "export const billingModule = defineModule({ dependsOn: { usage: usageModule } });\n",
    );
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

  it("flags a module importing a module it does not declare in dependsOn, types included", () => {
    const dir = mkdtempSync(join(root, "deps-"));
    const put = (path: string, content: string) => {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), content);
    };
    put(
      "modules/shop/module.ts",
      'export const shopModule = defineModule({\n  name: "shop",\n  dependsOn: {\n    tenancy: tenancyModule,\n    identity,\n  },\n});\n',
    );
    put(
      "modules/shop/service.ts",
      [
        'import { tenancyModule } from "../tenancy/index.js";',
        'import type { User } from "../identity/index.js";',
        'import type { AuditEntry } from "../audit/index.js";',
        'export { webhooksModule } from "../webhooks/index.js";',
        'import { own } from "./internal/x.js";',
      ].join("\n"),
    );
    // A module with no module.ts declares no dependency.
    put("modules/loose/service.ts", 'import type { Tenant } from "../tenancy/index.js";\n');
    expect(
      checkBoundaries(dir)
        .map((v) => `${v.file} ${v.specifier}`)
        .sort(),
    ).toEqual(
      [
        "modules/loose/service.ts ../tenancy/index.js",
        "modules/shop/service.ts ../audit/index.js",
        "modules/shop/service.ts ../webhooks/index.js",
      ].sort(),
    );
    expect(checkBoundaries(dir).find((v) => v.specifier === "../audit/index.js")?.rule).toMatch(
      /module "shop" imports module "audit" without declaring it in dependsOn/,
    );
  });

  it("flags cli/, testing/ and the extra roots (tests included) importing past a module's index.ts", () => {
    // NOTE: nested one level deeper than this file, so these fixture strings do not resolve into the real src/.
    const dir = mkdtempSync(join(root, "outside-"));
    const put = (path: string, content: string) => {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), content);
    };
    put("src/cli/audit.ts", 'import { verify } from "../modules/audit/verifier.js";\n');
    put("src/cli/ok.ts", 'import { auditModule } from "../modules/audit/index.js";\n');
    put("src/testing/fixtures.ts", 'import type { Core } from "../modules/access/internal/core.js";\n');
    put("test/unit/cli.test.ts", 'import { x } from "../../src/modules/identity/internal/passwords.js";\n');
    put("test/unit/ok.test.ts", 'import { identityModule } from "../../src/modules/identity/index.js";\n');
    put("bench/lib/raw.ts", 'import { y } from "../../src/modules/identity/service.js";\n');
    expect(
      checkBoundaries(join(dir, "src"), [join(dir, "test"), join(dir, "bench")])
        .map((v) => `${v.file} ${v.specifier}`)
        .sort(),
    ).toEqual(
      [
        "bench/lib/raw.ts ../../src/modules/identity/service.js",
        "cli/audit.ts ../modules/audit/verifier.js",
        "test/unit/cli.test.ts ../../src/modules/identity/internal/passwords.js",
        "testing/fixtures.ts ../modules/access/internal/core.js",
      ].sort(),
    );
  });

  it("the project itself has no violations", () => {
    const here = dirname(fileURLToPath(import.meta.url));
    expect(checkBoundaries(resolve(here, "../src"), [here, resolve(here, "../../../bench")])).toEqual([]);
  });
});
