// generate.mjs writes the SDK's types from the repository's openapi.json (the document the
// server's route table produces with `npm run openapi`):
//   src/generated/openapi.ts        paths, operations and components, by openapi-typescript
//   src/generated/problem-codes.ts  ProblemCode, the union of every problem code the document names
// The output is not committed: install, build and typecheck run this script, and it does nothing
// when the output is newer than the document and this script.
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const sdk = join(here, "..");
const documentPath = process.env.BASEPLATE_OPENAPI ?? join(sdk, "..", "..", "openapi.json");
const outDir = join(sdk, "src", "generated");
const outputs = [join(outDir, "openapi.ts"), join(outDir, "problem-codes.ts")];

const newest = Math.max(statSync(documentPath).mtimeMs, statSync(fileURLToPath(import.meta.url)).mtimeMs);
if (!process.argv.includes("--force") && outputs.every((p) => existsSync(p) && statSync(p).mtimeMs >= newest)) {
  process.exit(0);
}

const { default: openapiTS, astToString } = await import("openapi-typescript");
const header =
  "// Generated from openapi.json by packages/sdk/scripts/generate.mjs. Do not edit: run `npm run build --workspace @baseplate/sdk`.\n";
mkdirSync(outDir, { recursive: true });
// defaultNonNullable off: a request field with a default may be left out (the plane fills it in).
const ast = await openapiTS(pathToFileURL(documentPath), { alphabetize: false, defaultNonNullable: false });
writeFileSync(outputs[0], `${header}${astToString(ast)}`);

// Problem codes: the Problem schema's `code` enum when the document declares one, and the codes
// each operation lists in its problem responses (`x-problem-codes`, and "Problem: a, b, c").
const document = JSON.parse(readFileSync(documentPath, "utf8"));
const codes = new Set(document.components?.schemas?.Problem?.properties?.code?.enum ?? []);
for (const item of Object.values(document.paths ?? {})) {
  for (const operation of Object.values(item)) {
    for (const response of Object.values(operation?.responses ?? {})) {
      for (const code of response?.["x-problem-codes"] ?? []) codes.add(code);
      const match = /^Problem: (.+)$/.exec(response?.description ?? "");
      if (!match) continue;
      for (const code of match[1].split(",")) if (/^[a-z0-9_]+$/.test(code.trim())) codes.add(code.trim());
    }
  }
}
const union = [...codes].sort().map((c) => `  | ${JSON.stringify(c)}`);
writeFileSync(
  outputs[1],
  `${header}\n/** ProblemCode is every stable problem code the API document names. */\nexport type ProblemCode =\n${union.join("\n")};\n`,
);
