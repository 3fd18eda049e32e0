import type { TypedDb } from "../../../platform/db/db.js";
import type { ModuleContext } from "../../../platform/module.js";
import {
  type AuditEntryRecord,
  type ExportHeader,
  entryLine,
  FORMAT,
  FORMAT_VERSION,
  loadPublicKeys,
  type SignedCheckpoint,
} from "../format.js";
import { chainOf, toCheckpoint, toEntry } from "../internal/rows.js";
import type { AuditEntryTable, AuditTables } from "../tables.js";
import { ChainVerifier, type VerificationResult } from "../verifier.js";
import { type ParallelOptions, verifyRowPages } from "../verify-threads.js";
import type { Checkpoints } from "./checkpoints.js";

/**
 * ChainScope names a chain by whom it belongs to: a tenant (environment and tenant), an environment
 * (tenant null), or the plane (both null). A route's TenantAccess is one; so is a row of
 * `audit_chain` for the operator's tools.
 */
export interface ChainScope {
  environmentId: string | null;
  tenantId: string | null;
  /** environmentOnly: leave tenants' entries out (an operator acting environment-wide). */
  environmentOnly?: boolean;
}

/** PAGE is how many rows an export or a verification reads at a time. */
const PAGE = 1000;

const CSV_COLUMNS = [
  "chain",
  "seq",
  "id",
  "occurredAt",
  "action",
  "actorType",
  "actorId",
  "actorDisplayName",
  "onBehalfOf",
  "tenantId",
  "environmentId",
  "targets",
  "ip",
  "userAgent",
  "surfaceId",
  "requestId",
  "metadata",
  "changes",
  "source",
  "factId",
  "prevHash",
  "hash",
] as const;

/**
 * Exports streams a chain (JSON Lines: header, checkpoints, entries; or CSV: entries only) and
 * verifies chains server-side with the same verifier the offline CLI uses. Both read the database
 * a page at a time, so a chain of millions of entries never sits in memory.
 */
export class Exports {
  readonly #db: TypedDb<AuditTables>;

  constructor(
    private readonly m: ModuleContext,
    private readonly checkpoints: Checkpoints,
  ) {
    this.#db = m.db.tables<AuditTables>();
  }

  /** chainFor is the chain an access scope reads: its tenant's, else its environment's. */
  chainFor(access: ChainScope): string {
    return chainOf(access.environmentId, access.tenantId);
  }

  async #header(access: ChainScope): Promise<ExportHeader> {
    const chain = this.chainFor(access);
    const row = await this.#db
      .q()
      .selectFrom("audit_chain")
      .select(["anchor_size", "anchor_hash"])
      .where("id", "=", chain)
      .executeTakeFirst();
    return {
      type: "header",
      format: FORMAT,
      version: FORMAT_VERSION,
      chain,
      environmentId: access.environmentId,
      tenantId: access.tenantId,
      exportedAt: this.m.clock.now(),
      anchor: row
        ? { size: Number(row.anchor_size), headHash: row.anchor_hash }
        : { size: 0, headHash: "0".repeat(64) },
    };
  }

  /** checkpointsOf yields a chain's checkpoints, oldest first. */
  async *checkpointsOf(chain: string): AsyncGenerator<SignedCheckpoint> {
    let after = 0;
    for (;;) {
      const rows = await this.#db
        .q()
        .selectFrom("audit_checkpoint")
        .selectAll()
        .where("chain_id", "=", chain)
        .where("position", ">", after)
        .orderBy("position")
        .limit(PAGE)
        .execute();
      for (const row of rows) {
        // NOTE: an export keeps the signed format (`time` in epoch ms), which its signature covers.
        const { id: _id, environmentId: _e, tenantId: _t, checkpointHash: _h, ...signed } = toCheckpoint(row);
        yield { ...signed, time: Number(row.time) };
      }
      if (rows.length < PAGE) return;
      after = Number(rows[rows.length - 1]?.position);
    }
  }

  /** rowPagesOf yields a chain's retained rows by seq, from `afterSeq`, a page at a time. */
  async *rowPagesOf(chain: string, afterSeq = 0): AsyncGenerator<AuditEntryTable[]> {
    let after = afterSeq;
    for (;;) {
      const rows = await this.#db
        .q()
        .selectFrom("audit_entry")
        .selectAll()
        .where("chain_id", "=", chain)
        .where("seq", ">", after)
        .orderBy("seq")
        .limit(PAGE)
        .execute();
      if (rows.length > 0) yield rows;
      if (rows.length < PAGE) return;
      after = Number(rows[rows.length - 1]?.seq);
    }
  }

  /** entriesOf yields a chain's retained entries by seq, from `afterSeq`. */
  async *entriesOf(chain: string, afterSeq = 0): AsyncGenerator<AuditEntryRecord> {
    for await (const rows of this.rowPagesOf(chain, afterSeq)) for (const row of rows) yield toEntry(row);
  }

  /** exportJsonLines yields the export of a chain as JSON Lines (verifiable offline). */
  async *exportJsonLines(access: ChainScope): AsyncGenerator<string> {
    const header = await this.#header(access);
    yield `${JSON.stringify(header)}\n`;
    let buffer = "";
    for await (const cp of this.checkpointsOf(header.chain))
      buffer += `${JSON.stringify({ type: "checkpoint", ...cp })}\n`;
    if (buffer) yield buffer;
    buffer = "";
    let n = 0;
    for await (const entry of this.entriesOf(header.chain, header.anchor.size)) {
      buffer += `${entryLine(entry)}\n`;
      if (++n % 200 === 0) {
        yield buffer;
        buffer = "";
      }
    }
    if (buffer) yield buffer;
  }

  /** exportCsv yields a chain's entries as CSV (RFC 4180; cells that a spreadsheet would run as formulas are prefixed with '). */
  async *exportCsv(access: ChainScope): AsyncGenerator<string> {
    const chain = this.chainFor(access);
    yield `${CSV_COLUMNS.join(",")}\r\n`;
    let buffer = "";
    let n = 0;
    for await (const e of this.entriesOf(chain)) {
      const cells: unknown[] = [
        e.chain,
        e.seq,
        e.id,
        e.occurredAt,
        e.action,
        e.actor.type,
        e.actor.id,
        e.actor.displayName,
        e.actor.onBehalfOf ? JSON.stringify(e.actor.onBehalfOf) : null,
        e.tenantId,
        e.environmentId,
        JSON.stringify(e.targets),
        e.context.ip,
        e.context.userAgent,
        e.context.surfaceId,
        e.context.requestId,
        JSON.stringify(e.metadata),
        e.changes ? JSON.stringify(e.changes) : null,
        e.source,
        e.factId,
        e.prevHash,
        e.hash,
      ];
      buffer += `${cells.map(csvCell).join(",")}\r\n`;
      if (++n % 200 === 0) {
        yield buffer;
        buffer = "";
      }
    }
    if (buffer) yield buffer;
  }

  /**
   * verifyChain verifies a chain as stored, against the plane's published public keys: the
   * checkpoints on this thread, the entries page by page on worker threads (`verifyRowPages`).
   */
  async verifyChain(access: ChainScope, options?: ParallelOptions): Promise<VerificationResult> {
    const header = await this.#header(access);
    const keys = loadPublicKeys(JSON.stringify(await this.checkpoints.listPublicKeys()));
    const verifier = new ChainVerifier({ keys, chain: header.chain, anchor: header.anchor });
    for await (const cp of this.checkpointsOf(header.chain)) verifier.checkpoint(cp);
    return verifyRowPages(verifier, this.rowPagesOf(header.chain, header.anchor.size), options);
  }
}

/**
 * csvCell quotes a value for CSV. Control characters (newlines, ANSI escapes) are written as
 * `\uXXXX`, so one entry is one line and a terminal showing the file runs no escape sequence
 * (checklist AUD-08); a leading = + - @ is prefixed with ' (spreadsheet formula injection).
 */
export function csvCell(value: unknown): string {
  if (value === null || value === undefined) return "";
  let text = String(value).replace(
    // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point.
    /[\u0000-\u001f\u007f-\u009f]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
  if (/^[=+\-@]/.test(text)) text = `'${text}`;
  return /[",]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}
