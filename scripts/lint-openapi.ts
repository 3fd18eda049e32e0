/**
 * lint-openapi checks the committed `openapi.json`, as `npm run lint` runs it:
 * 1. it is not stale: it equals the document freshly built from the route table (`renderOpenApi`);
 * 2. it passes Redocly's `recommended` ruleset with no error (warnings are printed, not fatal).
 * Exits 1 on either failure, saying which and how to fix it.
 */
import { existsSync, readFileSync } from "node:fs";
import { createConfig, formatProblems, getTotals, lintFromString } from "@redocly/openapi-core";
import { OPENAPI_FILE, renderOpenApi } from "./write-openapi.js";

const committed = existsSync(OPENAPI_FILE) ? readFileSync(OPENAPI_FILE, "utf8") : "";
let failed = false;

if (committed !== (await renderOpenApi())) {
  process.stderr.write("openapi.json is stale (it differs from the routes' document): run `npm run openapi`.\n");
  failed = true;
}

const problems = await lintFromString({
  source: committed,
  absoluteRef: OPENAPI_FILE,
  config: await createConfig({ extends: ["recommended"] }),
});
const totals = getTotals(problems);
if (problems.length > 0) formatProblems(problems, { totals, format: "stylish", color: false, maxProblems: 50 });
if (totals.errors > 0) {
  process.stderr.write(`openapi.json: ${totals.errors} error(s) under Redocly's recommended rules.\n`);
  failed = true;
}
process.stdout.write(
  `OpenAPI document: ${failed ? "failed" : "ok"} (${totals.errors} errors, ${totals.warnings} warnings)\n`,
);
process.exit(failed ? 1 : 0);
