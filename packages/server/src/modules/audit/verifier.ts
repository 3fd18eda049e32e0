import type { KeyObject } from "node:crypto";
import {
  type AuditEntryRecord,
  checkpointHash,
  type ExportHeader,
  entryHash,
  FORMAT,
  GENESIS_HASH,
  type SignedCheckpoint,
  verifyCheckpointSignature,
} from "./format.js";

/**
 * The audit trail's verifier: checks a chain of entries and checkpoints (see `format.ts`) and names
 * every failure. It depends on nothing of the server, so the offline CLI and a buyer's tooling run it.
 */

export type VerificationErrorKind =
  | "malformed"
  | "entry_modified"
  | "entry_link_broken"
  | "entry_missing"
  | "entry_out_of_order"
  | "entry_wrong_chain"
  | "checkpoint_signature_invalid"
  | "checkpoint_unknown_key"
  | "checkpoint_chain_broken"
  | "checkpoint_mismatch"
  | "checkpoint_missing"
  | "truncated"
  | "anchor_unverified";

export interface VerificationError {
  kind: VerificationErrorKind;
  message: string;
  /** seq and entryId name the failing entry; checkpoint names the failing checkpoint's size. */
  seq?: number;
  entryId?: string;
  checkpoint?: number;
  line?: number;
}

export interface VerificationResult {
  ok: boolean;
  chain: string | null;
  entries: number;
  checkpoints: number;
  firstSeq: number | null;
  lastSeq: number | null;
  /** lastCheckpointSize: the size the newest valid checkpoint vouches for. */
  lastCheckpointSize: number | null;
  /** uncheckpointed: entries after the last checkpoint (chained, but not yet signed). */
  uncheckpointed: number;
  errors: VerificationError[];
}

const MAX_ERRORS = 100;

/**
 * ChainVerifier checks one chain fed in order: checkpoints first (oldest first), then entries by
 * seq. It reports every failure it finds (up to 100), naming the entry (seq and id) or the
 * checkpoint (its size). What it proves:
 * - each entry's hash matches its content and links to the previous entry (modified, inserted,
 *   deleted or reordered entries break this at the exact seq);
 * - each checkpoint is signed by a known key and links to the previous checkpoint (a deleted,
 *   altered, forged or re-signed checkpoint breaks this);
 * - each checkpoint's head hash equals the hash of the entry at its size (a rewritten run of
 *   entries with recomputed hashes breaks this), and the entries reach the newest checkpoint's size
 *   (a truncated tail is detected);
 * - the first entry follows the anchor, which must be the genesis or a verified checkpoint.
 * Limits: entries after the newest checkpoint are only chained, not signed (`uncheckpointed`); a
 * verifier must pin the public keys it trusts (the keys file), or a forger can sign with its own.
 */
export class ChainVerifier {
  readonly #keys: ReadonlyMap<string, KeyObject>;
  readonly #errors: VerificationError[] = [];
  #chain: string | null;
  #anchor: { size: number; headHash: string };
  #checkpoints: SignedCheckpoint[] = [];
  #validCheckpoints = new Map<number, SignedCheckpoint>();
  #previousCheckpoint: SignedCheckpoint | null = null;
  #expectedSeq: number;
  #prevHash: string;
  #entries = 0;
  #firstSeq: number | null = null;
  #lastSeq: number | null = null;
  #entriesStarted = false;

  constructor(options: {
    keys: ReadonlyMap<string, KeyObject>;
    chain?: string;
    anchor?: { size: number; headHash: string };
  }) {
    this.#keys = options.keys;
    this.#chain = options.chain ?? null;
    this.#anchor = options.anchor ?? { size: 0, headHash: GENESIS_HASH };
    this.#expectedSeq = this.#anchor.size + 1;
    this.#prevHash = this.#anchor.headHash;
  }

  #fail(error: VerificationError): void {
    if (this.#errors.length < MAX_ERRORS) this.#errors.push(error);
  }

  /** checkpoint adds the next checkpoint (oldest first). */
  checkpoint(cp: SignedCheckpoint, line?: number): void {
    const at = { checkpoint: cp.size, ...(line !== undefined ? { line } : {}) };
    if (this.#entriesStarted) {
      this.#fail({ kind: "malformed", message: "a checkpoint follows entries; checkpoints come first", ...at });
      return;
    }
    if (this.#chain !== null && cp.chain !== this.#chain) {
      this.#fail({
        kind: "malformed",
        message: `checkpoint of chain ${cp.chain} in an export of ${this.#chain}`,
        ...at,
      });
      return;
    }
    const key = this.#keys.get(cp.keyId);
    let valid = true;
    if (!key) {
      this.#fail({
        kind: "checkpoint_unknown_key",
        message: `checkpoint at size ${cp.size} is signed by unknown key ${cp.keyId}`,
        ...at,
      });
      valid = false;
    } else if (!verifyCheckpointSignature(cp, key)) {
      this.#fail({
        kind: "checkpoint_signature_invalid",
        message: `checkpoint at size ${cp.size}: the signature does not verify`,
        ...at,
      });
      valid = false;
    }
    const previous = this.#previousCheckpoint;
    const expectedPrevious = previous ? checkpointHash(previous) : null;
    if (cp.previousCheckpointHash !== expectedPrevious) {
      this.#fail({
        kind: "checkpoint_chain_broken",
        message: previous
          ? `checkpoint at size ${cp.size} does not follow the checkpoint at size ${previous.size} (a checkpoint was removed, altered or re-signed)`
          : `checkpoint at size ${cp.size} claims a predecessor, but none precedes it (the first checkpoint was removed)`,
        ...at,
      });
      valid = false;
    } else if (previous && (cp.size < previous.size || cp.time < previous.time)) {
      this.#fail({
        kind: "checkpoint_chain_broken",
        message: `checkpoint at size ${cp.size} goes back in size or time`,
        ...at,
      });
      valid = false;
    }
    this.#previousCheckpoint = cp;
    this.#checkpoints.push(cp);
    if (valid) this.#validCheckpoints.set(cp.size, cp);
  }

  /** entry adds the next entry of the export. */
  entry(e: AuditEntryRecord, line?: number): void {
    if (!this.#entriesStarted) this.#startEntries();
    this.#entries++;
    const at = () => ({ seq: e.seq, entryId: e.id, ...(line !== undefined ? { line } : {}) });
    if (this.#chain !== null && e.chain !== this.#chain) {
      this.#fail({
        kind: "entry_wrong_chain",
        message: `entry ${e.seq} (${e.id}) belongs to chain ${e.chain}`,
        ...at(),
      });
    }
    const inPlace = e.seq === this.#expectedSeq;
    if (!inPlace) {
      if (e.seq > this.#expectedSeq) {
        this.#fail({
          kind: "entry_missing",
          message: `entries ${this.#expectedSeq}…${e.seq - 1} are missing before entry ${e.seq} (${e.id})`,
          ...at(),
        });
      } else {
        this.#fail({
          kind: "entry_out_of_order",
          message: `entry ${e.seq} (${e.id}) appears where entry ${this.#expectedSeq} belongs (inserted, duplicated or reordered)`,
          ...at(),
        });
      }
    }
    let computed: string | null = null;
    try {
      computed = entryHash(e);
    } catch (err) {
      this.#fail({ kind: "malformed", message: `entry ${e.seq}: ${(err as Error).message}`, ...at() });
    }
    if (computed !== null && computed !== e.hash) {
      this.#fail({
        kind: "entry_modified",
        message: `entry ${e.seq} (${e.id}) was modified: its content does not match its hash`,
        ...at(),
      });
    } else if (inPlace && e.prevHash !== this.#prevHash) {
      this.#fail({
        kind: "entry_link_broken",
        message: `entry ${e.seq} (${e.id}) does not follow the entry before it (its prevHash differs)`,
        ...at(),
      });
    }
    const cp = this.#validCheckpoints.get(e.seq);
    if (cp && cp.headHash !== e.hash) {
      this.#fail({
        kind: "checkpoint_mismatch",
        message: `entry ${e.seq} (${e.id}) is not the entry the checkpoint at size ${cp.size} signed: entries up to it were rewritten`,
        ...at(),
        checkpoint: cp.size,
      });
    }
    this.#firstSeq ??= e.seq;
    this.#lastSeq = e.seq;
    this.#expectedSeq = Math.max(this.#expectedSeq, e.seq) + 1;
    this.#prevHash = e.hash;
  }

  #startEntries(): void {
    this.#entriesStarted = true;
    if (this.#anchor.size > 0) {
      const anchor = this.#validCheckpoints.get(this.#anchor.size);
      if (!anchor || anchor.headHash !== this.#anchor.headHash) {
        this.#fail({
          kind: "anchor_unverified",
          message: `the export starts after entry ${this.#anchor.size}, but no valid checkpoint vouches for that anchor`,
          checkpoint: this.#anchor.size,
        });
      }
    }
  }

  /** finish closes the check and returns the result. */
  finish(): VerificationResult {
    if (!this.#entriesStarted) this.#startEntries();
    const last = this.#lastSeq ?? this.#anchor.size;
    const newest = this.#checkpoints[this.#checkpoints.length - 1];
    if (newest && newest.size > last) {
      this.#fail({
        kind: "truncated",
        message: `the checkpoint at size ${newest.size} vouches for ${newest.size} entries, but the chain ends at entry ${last}: its tail was removed`,
        checkpoint: newest.size,
      });
    }
    if (
      newest &&
      newest.size === this.#anchor.size &&
      this.#lastSeq === null &&
      newest.headHash !== this.#anchor.headHash
    ) {
      this.#fail({
        kind: "checkpoint_mismatch",
        message: "the newest checkpoint does not match the anchor",
        checkpoint: newest.size,
      });
    }
    let lastCheckpointSize: number | null = null;
    for (const cp of this.#validCheckpoints.values()) lastCheckpointSize = Math.max(lastCheckpointSize ?? 0, cp.size);
    return {
      ok: this.#errors.length === 0,
      chain: this.#chain,
      entries: this.#entries,
      checkpoints: this.#checkpoints.length,
      firstSeq: this.#firstSeq,
      lastSeq: this.#lastSeq,
      lastCheckpointSize,
      uncheckpointed: Math.max(0, last - Math.max(lastCheckpointSize ?? 0, this.#anchor.size)),
      errors: [...this.#errors],
    };
  }
}

/**
 * verifyExportLines verifies a JSON Lines export (header, checkpoints, entries) line by line.
 * `lines` may be an array or an async iterable (a file read with readline): nothing but the
 * checkpoints is held in memory. Never throws for bad input; reports it as `malformed`.
 */
export async function verifyExportLines(
  lines: Iterable<string> | AsyncIterable<string>,
  keys: ReadonlyMap<string, KeyObject>,
): Promise<VerificationResult> {
  let verifier: ChainVerifier | null = null;
  let n = 0;
  const early: VerificationError[] = [];
  for await (const raw of lines) {
    n++;
    const line = raw.trim();
    if (line === "") continue;
    let record: { type?: string } & Record<string, unknown>;
    try {
      record = JSON.parse(line);
    } catch {
      early.push({ kind: "malformed", message: `line ${n} is not JSON`, line: n });
      break;
    }
    if (verifier === null) {
      if (record.type !== "header" || record.format !== FORMAT) {
        early.push({ kind: "malformed", message: `line ${n}: an export starts with its header`, line: n });
        break;
      }
      const header = record as unknown as ExportHeader;
      verifier = new ChainVerifier({ keys, chain: header.chain, anchor: header.anchor });
      continue;
    }
    if (record.type === "checkpoint") {
      const { type: _t, ...cp } = record;
      verifier.checkpoint(cp as unknown as SignedCheckpoint, n);
    } else if (record.type === "entry") {
      const { type: _t, ...entry } = record;
      verifier.entry(entry as unknown as AuditEntryRecord, n);
    } else {
      early.push({ kind: "malformed", message: `line ${n}: unknown record type ${String(record.type)}`, line: n });
    }
  }
  if (verifier === null) {
    return {
      ok: false,
      chain: null,
      entries: 0,
      checkpoints: 0,
      firstSeq: null,
      lastSeq: null,
      lastCheckpointSize: null,
      uncheckpointed: 0,
      errors: early.length > 0 ? early : [{ kind: "malformed", message: "the export is empty" }],
    };
  }
  const result = verifier.finish();
  if (early.length > 0) return { ...result, ok: false, errors: [...early, ...result.errors] };
  return result;
}
