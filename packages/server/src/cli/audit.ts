import { readFileSync } from "node:fs";
import { auditFormat, type VerificationResult, verifyExportFile } from "../modules/audit/index.js";
import { defineCommand } from "./command.js";
import type { CliIo } from "./io.js";

const { loadPublicKeys } = auditFormat;

/**
 * auditVerify is `baseplate audit verify <export-file> --public-key <file>`: it checks a JSON Lines
 * export offline (no database, no network) against the public keys the verifier trusts (a PEM
 * file, or the JSON saved from GET /v1/audit/public-keys), on worker threads (one per available
 * core) for large files. Exit codes: 0 verified, 1 tampered or
 * unverifiable, 2 usage error.
 */
async function auditVerify(
  io: CliIo,
  file: string | undefined,
  values: { "public-key"?: string; json?: boolean },
): Promise<number> {
  const keyFile = values["public-key"];
  if (!file || !keyFile) {
    io.err("baseplate: usage: baseplate audit verify <export-file> --public-key <file> [--json]");
    return 2;
  }
  let keys: ReturnType<typeof loadPublicKeys>;
  try {
    keys = loadPublicKeys(readFileSync(keyFile, "utf8"));
  } catch (err) {
    io.err(`baseplate: cannot read public keys from ${keyFile}: ${(err as Error).message}`);
    return 2;
  }
  if (keys.size === 0) {
    io.err(`baseplate: ${keyFile} holds no Ed25519 public key`);
    return 2;
  }
  let result: VerificationResult;
  try {
    // The entries are checked in segments on worker threads, one per available core.
    result = await verifyExportFile(file, keys);
  } catch (err) {
    io.err(`baseplate: cannot read ${file}: ${(err as Error).message}`);
    return 2;
  }
  if (values.json) {
    io.out(JSON.stringify(result, null, 2));
    return result.ok ? 0 : 1;
  }
  if (result.ok) {
    io.out(
      `OK: chain ${result.chain}, entries ${result.firstSeq ?? "-"}…${result.lastSeq ?? "-"} (${result.entries}), ` +
        `${result.checkpoints} checkpoint(s), signed up to entry ${result.lastCheckpointSize ?? 0}` +
        (result.uncheckpointed > 0
          ? `; ${result.uncheckpointed} newer entr${result.uncheckpointed === 1 ? "y is" : "ies are"} chained but not yet checkpointed`
          : ""),
    );
    return 0;
  }
  io.out(`FAILED: chain ${result.chain ?? "?"}: ${result.errors.length} problem(s)`);
  for (const e of result.errors) {
    const where = [
      e.line !== undefined ? `line ${e.line}` : null,
      e.seq !== undefined ? `entry ${e.seq}` : null,
      e.checkpoint !== undefined ? `checkpoint@${e.checkpoint}` : null,
    ]
      .filter(Boolean)
      .join(", ");
    io.out(`  [${e.kind}]${where ? ` (${where})` : ""} ${e.message}`);
  }
  return 1;
}

/** auditVerifyCommand: `baseplate audit verify <export-file> --public-key <file>`. */
export const auditVerifyCommand = defineCommand({
  name: "audit verify",
  section: "local",
  summary: "Verify an audit export (JSON Lines from GET /v1/audit/export) offline against the plane's public keys.",
  description:
    "The keys: a PEM file, or the JSON saved from GET /v1/audit/public-keys. Exit 0: intact; 1: tampered\n" +
    "or unverifiable.",
  args: [{ name: "export-file", description: "The export (JSON Lines), e.g. from `baseplate audit export`." }],
  flags: {
    "public-key": { type: "string", value: "FILE", description: "The public keys the verifier trusts." },
  },
  json: true,
  run: ({ io, args, flags, json }) =>
    auditVerify(io, args["export-file"], { "public-key": flags["public-key"] as string | undefined, json }),
});
