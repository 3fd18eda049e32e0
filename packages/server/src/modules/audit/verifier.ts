import { hash, type KeyObject } from "node:crypto";
import {
  type AuditEntryRecord,
  checkpointHash,
  ENTRY_LINE_PREFIX,
  ENTRY_LINE_PREFIX_LENGTH,
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

export const MAX_ERRORS = 100;

/** ChainState is where the next entry belongs: its seq and the hash it must follow. */
export interface ChainState {
  expectedSeq: number;
  prevHash: string;
}

/**
 * SegmentReport is what a run of consecutive export lines reports when checked on its own (on a
 * worker thread, see `verify-threads.ts`): its entries' errors in order, its `early` errors (lines
 * that are not JSON or of unknown type), and the state it ends in. A segment checked without the
 * state before it assumes its first entry continues the chain (`first`); the caller checks that
 * assumption against the previous segment's end and re-checks the segment when it fails, so the
 * result is exactly that of one sequential pass.
 */
export interface SegmentReport {
  entries: number;
  firstSeq: number | null;
  lastSeq: number | null;
  first: { seq: number; prevHash: string } | null;
  end: ChainState | null;
  errors: VerificationError[];
  early: VerificationError[];
  /** lines: how many lines the segment held (blank ones included). */
  lines: number;
  /** stopped: a line was not JSON; nothing after it counts (as in a sequential pass). */
  stopped: boolean;
}

/**
 * EntryRun checks entries fed in order against a chain state: content against hash, link to the
 * previous entry, seq continuity, chain, and the headHash of the valid checkpoint at that seq.
 * `state` null: the first entry is taken to continue the chain (a segment checked on its own).
 */
export class EntryRun {
  entries = 0;
  firstSeq: number | null = null;
  lastSeq: number | null = null;
  first: { seq: number; prevHash: string } | null = null;
  readonly #chain: string | null;
  readonly #checkpoints: ReadonlyMap<number, string>;
  readonly errors: VerificationError[];
  #state: ChainState | null;

  constructor(options: {
    chain: string | null;
    /** checkpoints: size → headHash of the valid checkpoints. */
    checkpoints: ReadonlyMap<number, string>;
    state: ChainState | null;
    errors?: VerificationError[];
  }) {
    this.#chain = options.chain;
    this.#checkpoints = options.checkpoints;
    this.#state = options.state;
    this.errors = options.errors ?? [];
  }

  get state(): ChainState | null {
    return this.#state;
  }

  fail(error: VerificationError): void {
    if (this.errors.length < MAX_ERRORS) this.errors.push(error);
  }

  /** checkpoint reports a checkpoint line met among entries (checkpoints come first). */
  checkpoint(cp: SignedCheckpoint, line?: number): void {
    this.fail({
      kind: "malformed",
      message: "a checkpoint follows entries; checkpoints come first",
      checkpoint: cp.size,
      ...(line !== undefined ? { line } : {}),
    });
  }

  /**
   * entry checks the next entry. `verifiedHash`, when given, is the entry's hash already computed
   * from the bytes of its export line (and equal to `e.hash`); otherwise it is computed here.
   */
  entry(e: AuditEntryRecord, line?: number, verifiedHash?: string): void {
    let state = this.#state;
    if (state === null) {
      this.first = { seq: e.seq, prevHash: e.prevHash };
      state = { expectedSeq: e.seq, prevHash: e.prevHash };
      this.#state = state;
    }
    this.entries++;
    const inPlace = e.seq === state.expectedSeq;
    let computed: string | null = verifiedHash ?? null;
    if (
      inPlace &&
      computed !== null &&
      computed === e.hash &&
      e.prevHash === state.prevHash &&
      (this.#chain === null || e.chain === this.#chain)
    ) {
      // The common case, an intact entry in place: nothing to report.
    } else {
      const at = () => ({ seq: e.seq, entryId: e.id, ...(line !== undefined ? { line } : {}) });
      if (this.#chain !== null && e.chain !== this.#chain) {
        this.fail({
          kind: "entry_wrong_chain",
          message: `entry ${e.seq} (${e.id}) belongs to chain ${e.chain}`,
          ...at(),
        });
      }
      if (!inPlace) {
        if (e.seq > state.expectedSeq) {
          this.fail({
            kind: "entry_missing",
            message: `entries ${state.expectedSeq}…${e.seq - 1} are missing before entry ${e.seq} (${e.id})`,
            ...at(),
          });
        } else {
          this.fail({
            kind: "entry_out_of_order",
            message: `entry ${e.seq} (${e.id}) appears where entry ${state.expectedSeq} belongs (inserted, duplicated or reordered)`,
            ...at(),
          });
        }
      }
      if (computed === null) {
        try {
          computed = entryHash(e);
        } catch (err) {
          this.fail({ kind: "malformed", message: `entry ${e.seq}: ${(err as Error).message}`, ...at() });
        }
      }
      if (computed !== null && computed !== e.hash) {
        this.fail({
          kind: "entry_modified",
          message: `entry ${e.seq} (${e.id}) was modified: its content does not match its hash`,
          ...at(),
        });
      } else if (inPlace && e.prevHash !== state.prevHash) {
        this.fail({
          kind: "entry_link_broken",
          message: `entry ${e.seq} (${e.id}) does not follow the entry before it (its prevHash differs)`,
          ...at(),
        });
      }
    }
    if (this.#checkpoints.size > 0) {
      const headHash = this.#checkpoints.get(e.seq);
      if (headHash !== undefined && headHash !== e.hash) {
        this.fail({
          kind: "checkpoint_mismatch",
          message: `entry ${e.seq} (${e.id}) is not the entry the checkpoint at size ${e.seq} signed: entries up to it were rewritten`,
          seq: e.seq,
          entryId: e.id,
          ...(line !== undefined ? { line } : {}),
          checkpoint: e.seq,
        });
      }
    }
    this.firstSeq ??= e.seq;
    this.lastSeq = e.seq;
    // The state object may be shared with a report already returned: replace it rather than mutate it.
    this.#state = { expectedSeq: Math.max(state.expectedSeq, e.seq) + 1, prevHash: e.hash };
  }

  /** checkpointHeads lists the valid checkpoints as [size, headHash] (for segments checked elsewhere). */
  checkpointHeads(): Array<[number, string]> {
    return [...this.#checkpoints];
  }

  /** continues tells whether a segment checked on its own started where this run ends. */
  continues(report: SegmentReport): boolean {
    const state = this.#state;
    return (
      report.first === null ||
      (state !== null && report.first.seq === state.expectedSeq && report.first.prevHash === state.prevHash)
    );
  }

  /** absorb appends a segment that `continues` this run; `lineOffset` is added to its line numbers. */
  absorb(report: SegmentReport, lineOffset: number): void {
    for (const error of report.errors) {
      this.fail(error.line !== undefined ? { ...error, line: error.line + lineOffset } : error);
    }
    this.entries += report.entries;
    this.firstSeq ??= report.firstSeq;
    if (report.lastSeq !== null) this.lastSeq = report.lastSeq;
    if (report.end !== null) this.#state = report.end;
  }

  /** report is this run as a segment report (`early`, `lines` and `stopped` filled by the caller). */
  report(): SegmentReport {
    return {
      entries: this.entries,
      firstSeq: this.firstSeq,
      lastSeq: this.lastSeq,
      first: this.first,
      end: this.entries > 0 ? this.#state : null,
      errors: this.errors,
      early: [],
      lines: 0,
      stopped: false,
    };
  }
}

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
  #run: EntryRun | null = null;

  constructor(options: {
    keys: ReadonlyMap<string, KeyObject>;
    chain?: string;
    anchor?: { size: number; headHash: string };
  }) {
    this.#keys = options.keys;
    this.#chain = options.chain ?? null;
    this.#anchor = options.anchor ?? { size: 0, headHash: GENESIS_HASH };
  }

  get chain(): string | null {
    return this.#chain;
  }

  /** started: entries began (the checkpoints are closed). */
  get started(): boolean {
    return this.#run !== null;
  }

  #fail(error: VerificationError): void {
    if (this.#errors.length < MAX_ERRORS) this.#errors.push(error);
  }

  /** checkpoint adds the next checkpoint (oldest first). */
  checkpoint(cp: SignedCheckpoint, line?: number): void {
    if (this.#run !== null) {
      this.#run.checkpoint(cp, line);
      return;
    }
    const at = { checkpoint: cp.size, ...(line !== undefined ? { line } : {}) };
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

  /** entry adds the next entry of the export (`verifiedHash`: see `EntryRun.entry`). */
  entry(e: AuditEntryRecord, line?: number, verifiedHash?: string): void {
    this.entries().entry(e, line, verifiedHash);
  }

  /**
   * entries closes the checkpoints (checking the anchor) and returns the run entries are checked
   * in: segments checked elsewhere are absorbed into it.
   */
  entries(): EntryRun {
    if (this.#run !== null) return this.#run;
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
    const heads = new Map<number, string>();
    for (const [size, cp] of this.#validCheckpoints) heads.set(size, cp.headHash);
    this.#run = new EntryRun({
      chain: this.#chain,
      checkpoints: heads,
      state: { expectedSeq: this.#anchor.size + 1, prevHash: this.#anchor.headHash },
      errors: this.#errors,
    });
    return this.#run;
  }

  /** finish closes the check and returns the result. */
  finish(): VerificationResult {
    const run = this.entries();
    const last = run.lastSeq ?? this.#anchor.size;
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
      run.lastSeq === null &&
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
      entries: run.entries,
      checkpoints: this.#checkpoints.length,
      firstSeq: run.firstSeq,
      lastSeq: run.lastSeq,
      lastCheckpointSize,
      uncheckpointed: Math.max(0, last - Math.max(lastCheckpointSize ?? 0, this.#anchor.size)),
      errors: [...this.#errors],
    };
  }
}

/** LineTarget receives the records of an export's lines after its header. */
interface LineTarget {
  checkpoint(cp: SignedCheckpoint, line?: number): void;
  entry(e: AuditEntryRecord, line?: number, verifiedHash?: string): void;
}

let scratch = Buffer.allocUnsafe(64 * 1024);

/**
 * hashOfLine hashes an entry line written in the export layout (`entryLine`) as it is written:
 * `SHA-256(prevHash bytes ‖ "{" ‖ the line after its prefix)`, with no parsing or re-encoding of
 * the body. Null when the line has another layout (older exports, edited lines): the caller then
 * hashes the parsed entry's canonical encoding.
 */
export function hashOfLine(line: string, prevHash: unknown): string | null {
  if (
    typeof prevHash !== "string" ||
    prevHash.length !== 64 ||
    line.length <= ENTRY_LINE_PREFIX_LENGTH ||
    line.charCodeAt(ENTRY_LINE_PREFIX_LENGTH - 2) !== 34 ||
    line.charCodeAt(ENTRY_LINE_PREFIX_LENGTH - 1) !== 44 ||
    !line.startsWith(ENTRY_LINE_PREFIX)
  ) {
    return null;
  }
  const need = 33 + (line.length - ENTRY_LINE_PREFIX_LENGTH) * 3;
  if (scratch.length < need) scratch = Buffer.allocUnsafe(need);
  if (scratch.write(prevHash, 0, 32, "hex") !== 32) return null;
  scratch[32] = 0x7b; // "{"
  const n = scratch.write(line.slice(ENTRY_LINE_PREFIX_LENGTH), 33, "utf8");
  return hash("sha256", scratch.subarray(0, 33 + n), "hex");
}

const STR = String.raw`"(?:[^"\\]|\\.)*"`;
const TEXT = `(?:null|${STR})`;
/** ENTRY_HEAD: an export line's body from its first member to `chain` (the usual actor shape). */
const ENTRY_HEAD = new RegExp(
  String.raw`"action":${STR},"actor":\{"displayName":${TEXT},"id":${TEXT},"model":${TEXT},"onBehalfOf":(?:null|\{"id":${TEXT},"reason":${TEXT},"type":${TEXT}\}),"type":${TEXT}\},"chain":(${STR}),"changes":`,
  "y",
);
/** ENTRY_TAIL: an export line's last members, from `prevHash` to the end (the usual targets shape). */
const ENTRY_TAIL = new RegExp(
  String.raw`,"prevHash":"([0-9a-f]{64})","seq":([1-9][0-9]{0,15}),"source":"(?:fact|product)","targets":\[(?:\{"id":${STR},"type":${STR}\}(?:,\{"id":${STR},"type":${STR}\})*)?\],"tenantId":${TEXT},"v":1\}$`,
  "y",
);

/** LineEntry is an entry read from its export line without parsing it; `id` is parsed when asked for (an error names it). */
class LineEntry {
  constructor(
    readonly line: string,
    readonly seq: number,
    readonly chain: string,
    readonly prevHash: string,
    readonly hash: string,
  ) {}

  get id(): string {
    return (JSON.parse(this.line) as AuditEntryRecord).id;
  }
}

/**
 * readEntryLine reads an entry line in the export layout without JSON.parse: the seq, chain and
 * prevHash are matched at the top level of the body (the members around them must have their
 * usual shape, anchored at the body's start and end), and the line's bytes must hash to the
 * hash it states. A match therefore means the body is, byte for byte, one the writer hashed, so
 * the members read are the entry's. Null for anything else (the caller parses the line).
 */
function readEntryLine(line: string): LineEntry | null {
  const tail = line.lastIndexOf(',"prevHash":"');
  if (tail < 0) return null;
  ENTRY_TAIL.lastIndex = tail;
  const t = ENTRY_TAIL.exec(line);
  if (t === null) return null;
  ENTRY_HEAD.lastIndex = ENTRY_LINE_PREFIX_LENGTH;
  const h = ENTRY_HEAD.exec(line);
  if (h === null) return null;
  const prevHash = t[1] as string;
  const seq = Number(t[2]);
  if (!Number.isSafeInteger(seq)) return null;
  const stated = line.slice(ENTRY_LINE_PREFIX.length, ENTRY_LINE_PREFIX.length + 64);
  if (hashOfLine(line, prevHash) !== stated) return null;
  const literal = h[1] as string;
  const chain = literal.includes("\\") ? (JSON.parse(literal) as string) : literal.slice(1, -1);
  return new LineEntry(line, seq, chain, prevHash, stated);
}

function lineError(n: number, text: string): VerificationError {
  return { kind: "malformed", message: `line ${n}${text}`, line: n };
}

/** renumbered moves an early error of a segment to its line in the whole export. */
export function renumbered(error: VerificationError, offset: number): VerificationError {
  if (error.line === undefined) return error;
  const line = error.line + offset;
  return { ...error, line, message: error.message.replace(/^line \d+/, `line ${line}`) };
}

/**
 * feedLine parses one (trimmed, non-empty) line after the header and hands its record to
 * `target`. An entry line in the export layout is read without parsing and hashed as written
 * (`readEntryLine`, `hashOfLine`); any other is parsed and hashed through its canonical encoding. Returns false when the line is not JSON: a pass stops
 * there.
 */
export function feedLine(target: LineTarget, line: string, n: number, early: VerificationError[]): boolean {
  if (line.startsWith(ENTRY_LINE_PREFIX)) {
    const entry = readEntryLine(line);
    if (entry !== null) {
      target.entry(entry as unknown as AuditEntryRecord, n, entry.hash);
      return true;
    }
  }
  let record: unknown;
  try {
    record = JSON.parse(line);
  } catch {
    early.push(lineError(n, " is not JSON"));
    return false;
  }
  const fields = record !== null && typeof record === "object" ? (record as Record<string, unknown>) : null;
  const type = fields?.type;
  if (fields !== null && type === "entry") {
    const verified = hashOfLine(line, fields.prevHash);
    if (verified !== null && verified === fields.hash) {
      target.entry(fields as unknown as AuditEntryRecord, n, verified);
    } else {
      const { type: _t, ...entry } = fields;
      target.entry(entry as unknown as AuditEntryRecord, n);
    }
  } else if (fields !== null && type === "checkpoint") {
    const { type: _t, ...cp } = fields;
    target.checkpoint(cp as unknown as SignedCheckpoint, n);
  } else {
    early.push(lineError(n, `: unknown record type ${String(type)}`));
  }
  return true;
}

/**
 * ExportPass verifies an export fed line by line: the header, then checkpoints and entries.
 * `early` holds the line-level failures (not JSON, unknown record type), reported first.
 */
export class ExportPass {
  verifier: ChainVerifier | null = null;
  readonly early: VerificationError[] = [];
  /** n: lines read so far (blank ones included). */
  n = 0;

  constructor(private readonly keys: ReadonlyMap<string, KeyObject>) {}

  /** line feeds the next line; false when the pass stops (a line that is not JSON, a missing header). */
  line(raw: string): boolean {
    const n = ++this.n;
    const line = raw.trim();
    if (line === "") return true;
    if (this.verifier !== null) return feedLine(this.verifier, line, n, this.early);
    let record: { type?: string } & Record<string, unknown>;
    try {
      record = JSON.parse(line);
    } catch {
      this.early.push(lineError(n, " is not JSON"));
      return false;
    }
    if (record === null || record.type !== "header" || record.format !== FORMAT) {
      this.early.push(lineError(n, ": an export starts with its header"));
      return false;
    }
    const header = record as unknown as ExportHeader;
    this.verifier = new ChainVerifier({ keys: this.keys, chain: header.chain, anchor: header.anchor });
    return true;
  }

  finish(): VerificationResult {
    if (this.verifier === null) {
      return {
        ok: false,
        chain: null,
        entries: 0,
        checkpoints: 0,
        firstSeq: null,
        lastSeq: null,
        lastCheckpointSize: null,
        uncheckpointed: 0,
        errors: this.early.length > 0 ? this.early : [{ kind: "malformed", message: "the export is empty" }],
      };
    }
    const result = this.verifier.finish();
    if (this.early.length > 0) return { ...result, ok: false, errors: [...this.early, ...result.errors] };
    return result;
  }
}

/**
 * verifyExportLines verifies a JSON Lines export (header, checkpoints, entries) line by line, on
 * the calling thread. `lines` may be an array or an async iterable (a file read with readline):
 * nothing but the checkpoints is held in memory. Never throws for bad input; reports it as
 * `malformed`. `verifyExportFile` (verify-threads.ts) checks a file on worker threads.
 */
export async function verifyExportLines(
  lines: Iterable<string> | AsyncIterable<string>,
  keys: ReadonlyMap<string, KeyObject>,
): Promise<VerificationResult> {
  const pass = new ExportPass(keys);
  for await (const raw of lines) if (!pass.line(raw)) break;
  return pass.finish();
}
