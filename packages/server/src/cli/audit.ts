import { readFileSync } from "node:fs";
import { auditFormat, type VerificationResult, verifyExportFile } from "../modules/audit/index.js";
import { type CommandContext, defineCommand, UsageError } from "./command.js";
import { connect, fetchAuditPublicKeys, reach, resolveConnection } from "./remote/index.js";

const { loadPublicKeys } = auditFormat;

/**
 * auditVerify is `baseplate audit verify <export-file>`: it checks a JSON Lines export offline (no
 * database) against the public keys the verifier trusts: a PEM file, or the JSON saved from
 * GET /v1/audit/public-keys (`--public-key`), else the keys the signed-in plane publishes. The
 * entries are checked on worker threads (one per available core) for large files. Exit codes:
 * 0 verified, 1 tampered or unverifiable, 2 usage error, 4 no keys given and no plane to ask.
 */
async function auditVerify(ctx: CommandContext): Promise<number> {
  const { io } = ctx;
  const file = ctx.args["export-file"] as string;
  const keyFile = ctx.flags["public-key"] as string | undefined;
  let keys: ReturnType<typeof loadPublicKeys>;
  let source: string;
  if (keyFile) {
    source = keyFile;
    try {
      keys = loadPublicKeys(readFileSync(keyFile, "utf8"));
    } catch (err) {
      io.err(`baseplate: cannot read public keys from ${keyFile}: ${(err as Error).message}`);
      return 2;
    }
  } else {
    const connection = resolveConnection(io.env, ctx.flags);
    if (!connection) {
      throw new UsageError(
        '"audit verify" needs --public-key FILE, or a signed-in plane to fetch the keys from (`baseplate login`). See "baseplate audit verify --help".',
      );
    }
    const { bp } = connect(ctx);
    source = `${connection.url}/v1/audit/public-keys`;
    keys = loadPublicKeys(await reach(connection, () => fetchAuditPublicKeys(bp)));
  }
  const keyFileName = source;
  if (keys.size === 0) {
    io.err(`baseplate: ${keyFileName} holds no Ed25519 public key`);
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
  if (ctx.json) {
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
  remote: true,
  summary: "Verify an audit export (JSON Lines from GET /v1/audit/export) against the plane's public keys.",
  description:
    "The keys: --public-key (a PEM file, or the JSON saved from GET /v1/audit/public-keys), else those the\n" +
    "signed-in plane publishes (fetched once; the check itself is offline). Exit 0: intact; 1: tampered\n" +
    "or unverifiable.",
  args: [{ name: "export-file", description: "The export (JSON Lines), e.g. from `baseplate audit export`." }],
  flags: {
    "public-key": {
      type: "string",
      value: "FILE",
      description: "The public keys the verifier trusts (default: fetched from the plane).",
    },
  },
  json: true,
  run: auditVerify,
});
