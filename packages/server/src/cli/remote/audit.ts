import { createWriteStream } from "node:fs";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import { type Baseplate, BaseplateProblem, unwrap } from "@baseplate/sdk";
import { defineCommand, EXIT } from "../command.js";
import { printJson } from "../io.js";
import { connect, reach } from "./client.js";

/** fetchAuditPublicKeys returns the plane's audit public keys as the JSON GET /v1/audit/public-keys answers. */
export async function fetchAuditPublicKeys(bp: Baseplate): Promise<string> {
  return JSON.stringify(await unwrap(bp.GET("/v1/audit/public-keys")));
}

/** formatBytes shows a size the way people read it (1.5 MB). */
function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KB", "MB", "GB", "TB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}

const exportCommand = defineCommand({
  name: "audit export",
  section: "remote",
  remote: true,
  json: true,
  summary: "Stream the audit trail (JSON Lines with its signed checkpoints) to a file.",
  description:
    "Shows the entries and bytes received on stderr while it runs (in a terminal, without --json).\n" +
    "Check the file with `baseplate audit verify FILE`.",
  flags: {
    output: { type: "string", short: "o", value: "FILE", required: true, description: "Where to write the export." },
    tenant: { type: "string", value: "ID", description: "Only this tenant's entries." },
  },
  examples: ["baseplate audit export -o audit.jsonl && baseplate audit verify audit.jsonl"],
  async run(ctx) {
    const { bp, connection } = connect(ctx);
    const file = ctx.flags.output as string;
    const query = ctx.flags.tenant ? { tenantId: ctx.flags.tenant as string } : {};
    const { response } = await reach(connection, () =>
      bp.GET("/v1/audit/export", { params: { query }, parseAs: "stream" }),
    );
    if (!response.ok || !response.body) {
      const text = await response.text().catch(() => "");
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // not JSON: the problem is built from the status
      }
      throw BaseplateProblem.fromResponse(response, body);
    }
    const progress = ctx.json ? undefined : ctx.io.progress;
    let bytes = 0;
    let entries = 0;
    let shown = 0;
    const show = () => progress?.(`Exporting: ${entries} line(s), ${formatBytes(bytes)}`);
    const counter = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        bytes += chunk.length;
        for (const b of chunk) if (b === 10) entries++;
        if (Date.now() - shown > 100) {
          shown = Date.now();
          show();
        }
        done(null, chunk);
      },
    });
    const body = Readable.fromWeb(response.body as unknown as WebReadableStream<Uint8Array>);
    await reach(connection, () => pipeline(body, counter, createWriteStream(file, { mode: 0o600 })));
    if (progress) {
      show();
      progress(null);
    }
    if (ctx.json) printJson(ctx.io, { file, lines: entries, bytes });
    else ctx.io.out(`Wrote ${entries} line(s), ${formatBytes(bytes)} to ${file}.`);
    return EXIT.ok;
  },
});

/** remoteAuditCommands: export the audit trail through the API. */
export const remoteAuditCommands = [exportCommand];
