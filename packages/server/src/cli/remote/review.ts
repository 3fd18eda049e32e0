import { readFileSync, writeFileSync } from "node:fs";
import { BaseplateProblem } from "@baseplate/sdk";
import { auditFormat } from "../../modules/audit/index.js";
import { verifyReviewText } from "../../modules/review/index.js";
import { defineCommand, EXIT, parse, UsageError } from "../command.js";
import { printJson } from "../io.js";
import { fetchAuditPublicKeys } from "./audit.js";
import { connect, reach } from "./client.js";

const FORMATS = { md: "markdown", markdown: "markdown", html: "html", pdf: "pdf", json: "json" } as const;
type Format = (typeof FORMATS)[keyof typeof FORMATS];

/** formatOf: the --format flag, else the output file's extension, else Markdown. */
function formatOf(flag: string | undefined, out: string | undefined): Format {
  if (flag) return FORMATS[flag as keyof typeof FORMATS];
  const ext = out?.split(".").pop()?.toLowerCase();
  return (ext && FORMATS[ext as keyof typeof FORMATS]) || "markdown";
}

const review = defineCommand({
  name: "review",
  section: "remote",
  remote: true,
  summary: "Generate the review report of the environment (or one tenant), signed by the plane.",
  description:
    "A document generated from the live plane: access, data scoping (with an isolation self-test run\n" +
    "now), events and webhooks, usage and billing, audit, operations. Markdown and HTML carry the\n" +
    "signed JSON (check them with `baseplate review verify`); the PDF is for reading.",
  flags: {
    tenant: { type: "string", value: "ID", description: "The tenant's report (what its security reviewer is given)." },
    format: {
      type: "string",
      value: "FORMAT",
      description: "md, html, pdf or json [from the --out extension, else md].",
      parse: parse.oneOf("md", "markdown", "html", "pdf", "json"),
    },
    out: {
      type: "string",
      short: "o",
      value: "FILE",
      description: "Write to FILE (required for pdf) instead of stdout.",
    },
    "period-days": { type: "string", value: "N", description: 'Days the "in the period" figures cover [30].' },
  },
  examples: [
    "baseplate review -o review.md && baseplate review verify review.md",
    "baseplate review --tenant ten_… -o acme-review.pdf",
  ],
  async run(ctx) {
    const out = ctx.flags.out as string | undefined;
    const format = formatOf(ctx.flags.format as string | undefined, out);
    if (format === "pdf" && !out) throw new UsageError("A PDF goes to a file: pass --out FILE.pdf.");
    const days = ctx.flags["period-days"] as string | undefined;
    if (days !== undefined && !/^\d{1,3}$/.test(days)) throw new UsageError(`Bad value for --period-days: "${days}".`);
    const { bp, connection } = connect(ctx);
    const query = { format, ...(days ? { periodDays: Number(days) } : {}) };
    const tenantId = ctx.flags.tenant as string | undefined;
    ctx.io.progress?.("Generating the report (the isolation self-test runs now)…");
    const { data, error, response } = await reach(connection, () =>
      tenantId
        ? bp.GET("/v1/tenants/{tenantId}/review", { params: { path: { tenantId }, query }, parseAs: "arrayBuffer" })
        : bp.GET("/v1/review", { params: { query }, parseAs: "arrayBuffer" }),
    );
    ctx.io.progress?.(null);
    if (!response.ok || data === undefined) throw BaseplateProblem.fromResponse(response, error);
    const bytes = Buffer.from(data as ArrayBuffer);
    const text = format === "json" ? `${JSON.stringify(JSON.parse(bytes.toString("utf8")), null, 2)}\n` : null;
    if (out) {
      writeFileSync(out, text ?? bytes);
      ctx.io.err(`Wrote ${out} (${format}, ${bytes.length} bytes).`);
    } else ctx.io.out((text ?? bytes.toString("utf8")).trimEnd());
    return EXIT.ok;
  },
});

const verify = defineCommand({
  name: "review verify",
  section: "remote",
  remote: true,
  json: true,
  summary: "Check that a review report (JSON, Markdown or HTML) came from the plane unchanged.",
  description:
    "Checks the report's Ed25519 signature against the plane's published audit keys (--public-key:\n" +
    "a PEM file or the JSON of GET /v1/audit/public-keys; else the signed-in plane's), and that the\n" +
    "text of a Markdown or HTML report is exactly what its signed JSON renders to. Exit 0 verified, 1 not.",
  args: [{ name: "file", description: "The report: .json, .md or .html." }],
  flags: { "public-key": { type: "string", value: "FILE", description: "The plane's public keys (offline)." } },
  async run(ctx) {
    const file = ctx.args.file as string;
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (err) {
      throw new UsageError(`Cannot read ${file}: ${(err as Error).message}`);
    }
    const keyFile = ctx.flags["public-key"] as string | undefined;
    let keysText: string;
    if (keyFile) {
      try {
        keysText = readFileSync(keyFile, "utf8");
      } catch (err) {
        throw new UsageError(`Cannot read ${keyFile}: ${(err as Error).message}`);
      }
    } else {
      const { bp, connection } = connect(ctx);
      keysText = await reach(connection, () => fetchAuditPublicKeys(bp));
    }
    const result = verifyReviewText(text, auditFormat.loadPublicKeys(keysText));
    if (ctx.json) printJson(ctx.io, result);
    else if (result.ok)
      ctx.io.out(`OK: ${file} (${result.format}) is signed by the plane's key ${result.keyId} and unchanged.`);
    else ctx.io.out(`FAILED: ${file} (${result.format}): ${result.problem}.`);
    return result.ok ? EXIT.ok : EXIT.failure;
  },
});

/** reviewCommands: the review report and its verification. */
export const reviewCommands = [review, verify];
