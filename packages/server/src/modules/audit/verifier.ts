import { createHash, createPublicKey, type KeyObject, verify as verifySignature } from "node:crypto";

/**
 * The audit trail's format and its verifier, in one file with no server dependency (only
 * `node:crypto`), so the server, the offline CLI and a buyer's own tooling share one definition.
 * docs/audit.md describes the same format in prose.
 *
 * - Canonical encoding: RFC 8785 (JCS) for the JSON values entries hold: object keys sorted by
 *   UTF-16 code units, no whitespace, strings and numbers as ECMAScript `JSON.stringify` writes
 *   them. Members whose value is `undefined` are left out; non-finite numbers are refused.
 * - Entry hash: `hash = SHA-256(prevHash ‖ canonical(body))`, hex, where `prevHash` is the previous
 *   entry's hash as 32 raw bytes (`GENESIS_HASH`, 32 zero bytes, before the first entry) and
 *   `body` is the entry without `hash` (see `entryBody`).
 * - Checkpoint: `{v, chain, size, headHash, time, previousCheckpointHash, keyId}` signed with
 *   Ed25519 over its canonical encoding; `checkpointHash = SHA-256(canonical(body + signature))`
 *   links the next checkpoint to this one (the first has `previousCheckpointHash: null`).
 */

export const FORMAT = "baseplate-audit-export";
export const FORMAT_VERSION = 1;
export const GENESIS_HASH = "0".repeat(64);

/** AuditActor is who acted: from the credential, never from a request body. */
export interface AuditActor {
  type: string;
  id: string | null;
  displayName: string | null;
  /** model is an agent's declared model (the LLM behind it), when it declared one. */
  model: string | null;
  /** onBehalfOf is the delegation chain: the user behind an agent, the operator's reason. */
  onBehalfOf: { type: string; id: string; reason: string | null } | null;
}

export interface AuditContext {
  ip: string | null;
  userAgent: string | null;
  surfaceId: string | null;
  requestId: string | null;
}

/** AuditEntryRecord is one entry as stored, exported and hashed. */
export interface AuditEntryRecord {
  v: 1;
  id: string;
  chain: string;
  seq: number;
  environmentId: string | null;
  tenantId: string | null;
  action: string;
  occurredAt: number;
  actor: AuditActor;
  targets: Array<{ type: string; id: string }>;
  context: AuditContext;
  metadata: Record<string, unknown>;
  changes: { before: Record<string, unknown>; after: Record<string, unknown> } | null;
  /** source: `fact` for the plane's own facts, `product` for entries a product wrote. */
  source: "fact" | "product";
  factId: string | null;
  prevHash: string;
  hash: string;
}

/** CheckpointBody is what a checkpoint's signature covers. */
export interface CheckpointBody {
  v: 1;
  chain: string;
  /** size is the number of entries the chain held (the seq of its head). */
  size: number;
  /** headHash is the hash of entry `size` (GENESIS_HASH for an empty chain). */
  headHash: string;
  time: number;
  previousCheckpointHash: string | null;
  keyId: string;
}

export interface SignedCheckpoint extends CheckpointBody {
  /** signature is the Ed25519 signature of `canonicalJson(body)`, base64. */
  signature: string;
}

/** PublicKeyRecord is one signing key as published at `GET /v1/audit/public-keys`. */
export interface PublicKeyRecord {
  keyId: string;
  algorithm: "Ed25519";
  /** publicKey is the SPKI PEM of the key. */
  publicKey: string;
  status?: string;
}

/** ExportHeader is the first line of an export. */
export interface ExportHeader {
  type: "header";
  format: typeof FORMAT;
  version: number;
  chain: string;
  environmentId: string | null;
  tenantId: string | null;
  exportedAt: number;
  /** anchor is where the exported entries start: seq `size + 1` follows `headHash`. */
  anchor: { size: number; headHash: string };
}

/** canonicalJson encodes a JSON value canonically (RFC 8785 for the values entries hold). Throws on non-JSON values. */
export function canonicalJson(value: unknown): string {
  if (value === null) return "null";
  switch (typeof value) {
    case "string":
    case "boolean":
      return JSON.stringify(value);
    case "number":
      if (!Number.isFinite(value)) throw new TypeError("canonicalJson: non-finite number");
      return JSON.stringify(value);
    case "object": {
      if (Array.isArray(value)) {
        let out = "[";
        for (let i = 0; i < value.length; i++) {
          if (i > 0) out += ",";
          out += value[i] === undefined ? "null" : canonicalJson(value[i]);
        }
        return `${out}]`;
      }
      const record = value as Record<string, unknown>;
      const keys = Object.keys(record).sort();
      let out = "{";
      let first = true;
      for (const key of keys) {
        const inner = record[key];
        if (inner === undefined) continue;
        if (!first) out += ",";
        first = false;
        out += `${JSON.stringify(key)}:${canonicalJson(inner)}`;
      }
      return `${out}}`;
    }
    default:
      throw new TypeError(`canonicalJson: cannot encode a ${typeof value}`);
  }
}

const ENTRY_BODY_KEYS = [
  "v",
  "id",
  "chain",
  "seq",
  "environmentId",
  "tenantId",
  "action",
  "occurredAt",
  "actor",
  "targets",
  "context",
  "metadata",
  "changes",
  "source",
  "factId",
  "prevHash",
].sort();
const QUOTED_KEYS = new Map(ENTRY_BODY_KEYS.map((k) => [k, `${JSON.stringify(k)}:`]));

function str(value: string | null): string {
  return value === null ? "null" : JSON.stringify(value);
}

function hasKeys(value: unknown, n: number): boolean {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return false;
  let count = 0;
  for (const _ in value) count++;
  return count === n;
}

function allTargets(targets: unknown[]): boolean {
  for (const t of targets) {
    if (!hasKeys(t, 2)) return false;
    const { id, type } = t as { id: unknown; type: unknown };
    if (typeof id !== "string" || typeof type !== "string") return false;
  }
  return true;
}

function isText(value: unknown): boolean {
  return value === null || typeof value === "string";
}

/**
 * canonicalEntryBody is `canonicalJson` of an entry without its `hash`, written field by field
 * (the writer's and the verifier's hot path). Any other shape (a field more or less, an actor or
 * context with other fields, non-string ids) falls back to `canonicalJson`: the output is the same.
 */
export function canonicalEntryBody(entry: Omit<AuditEntryRecord, "hash"> | AuditEntryRecord): string {
  const e = entry as AuditEntryRecord;
  const { actor, context, targets } = e;
  const b = actor?.onBehalfOf;
  let keys = 0;
  for (const k in e) {
    if (k !== "hash") {
      if (!QUOTED_KEYS.has(k)) {
        keys = -1;
        break;
      }
      keys++;
    }
  }
  const fast =
    keys === ENTRY_BODY_KEYS.length &&
    e.v === 1 &&
    Number.isSafeInteger(e.seq) &&
    Number.isSafeInteger(e.occurredAt) &&
    hasKeys(actor, 5) &&
    (b === null || hasKeys(b, 3)) &&
    hasKeys(context, 4) &&
    Array.isArray(targets) &&
    allTargets(targets) &&
    isText(e.id) &&
    isText(e.chain) &&
    isText(e.action) &&
    isText(e.source) &&
    isText(e.prevHash) &&
    isText(e.environmentId) &&
    isText(e.tenantId) &&
    isText(e.factId) &&
    isText(actor.type) &&
    isText(actor.id) &&
    isText(actor.displayName) &&
    isText(actor.model) &&
    (b === null || (isText(b.type) && isText(b.id) && isText(b.reason))) &&
    isText(context.ip) &&
    isText(context.requestId) &&
    isText(context.surfaceId) &&
    isText(context.userAgent);
  if (!fast) {
    const { hash: _hash, ...body } = e;
    return canonicalJson(body);
  }
  // Keys in sorted order (ENTRY_BODY_KEYS sorted): action, actor, chain, changes, context,
  // environmentId, factId, id, metadata, occurredAt, prevHash, seq, source, targets, tenantId, v.
  let t = "[";
  for (let i = 0; i < targets.length; i++) {
    const target = targets[i] as { type: string; id: string };
    t += `${i > 0 ? "," : ""}{"id":${JSON.stringify(target.id)},"type":${JSON.stringify(target.type)}}`;
  }
  return (
    `{"action":${str(e.action)}` +
    `,"actor":{"displayName":${str(actor.displayName)},"id":${str(actor.id)},"model":${str(actor.model)},"onBehalfOf":` +
    (b ? `{"id":${str(b.id)},"reason":${str(b.reason)},"type":${str(b.type)}}` : "null") +
    `,"type":${str(actor.type)}}` +
    `,"chain":${str(e.chain)}` +
    `,"changes":${canonicalJson(e.changes)}` +
    `,"context":{"ip":${str(context.ip)},"requestId":${str(context.requestId)},"surfaceId":${str(context.surfaceId)},"userAgent":${str(context.userAgent)}}` +
    `,"environmentId":${str(e.environmentId)}` +
    `,"factId":${str(e.factId)}` +
    `,"id":${str(e.id)}` +
    `,"metadata":${canonicalJson(e.metadata)}` +
    `,"occurredAt":${e.occurredAt}` +
    `,"prevHash":${str(e.prevHash)}` +
    `,"seq":${e.seq}` +
    `,"source":${str(e.source)}` +
    `,"targets":${t}]` +
    `,"tenantId":${str(e.tenantId)}` +
    `,"v":1}`
  );
}

/** entryBody is the part of an entry its hash covers: everything but `hash`. */
export function entryBody(entry: AuditEntryRecord | Omit<AuditEntryRecord, "hash">): Omit<AuditEntryRecord, "hash"> {
  const { hash: _hash, ...body } = entry as AuditEntryRecord;
  return body;
}

/** entryHash computes `SHA-256(prevHash bytes ‖ canonical(body))` as hex. */
export function entryHash(entry: Omit<AuditEntryRecord, "hash"> | AuditEntryRecord): string {
  return createHash("sha256")
    .update(Buffer.from(entry.prevHash, "hex"))
    .update(canonicalEntryBody(entry))
    .digest("hex");
}

/** checkpointBody strips a signed checkpoint (or an export line) to the signed fields. */
export function checkpointBody(cp: CheckpointBody): CheckpointBody {
  return {
    v: cp.v,
    chain: cp.chain,
    size: cp.size,
    headHash: cp.headHash,
    time: cp.time,
    previousCheckpointHash: cp.previousCheckpointHash,
    keyId: cp.keyId,
  };
}

/** checkpointHash is what the next checkpoint's `previousCheckpointHash` must hold. */
export function checkpointHash(cp: SignedCheckpoint): string {
  return createHash("sha256")
    .update(canonicalJson({ ...checkpointBody(cp), signature: cp.signature }))
    .digest("hex");
}

/** keyIdOf derives a key's id from its public key: `ed25519:` and 16 hex of SHA-256(SPKI DER). */
export function keyIdOf(publicKey: KeyObject): string {
  const der = publicKey.export({ type: "spki", format: "der" });
  return `ed25519:${createHash("sha256").update(der).digest("hex").slice(0, 16)}`;
}

/** verifyCheckpointSignature checks one checkpoint's Ed25519 signature. It never throws. */
export function verifyCheckpointSignature(cp: SignedCheckpoint, key: KeyObject): boolean {
  try {
    const signature = Buffer.from(cp.signature, "base64");
    if (signature.length !== 64 || signature.toString("base64") !== cp.signature) return false;
    return verifySignature(null, Buffer.from(canonicalJson(checkpointBody(cp))), key, signature);
  } catch {
    return false;
  }
}

/** loadPublicKeys reads keys from a PEM string or a `{keys: PublicKeyRecord[]}` JSON document. */
export function loadPublicKeys(text: string): Map<string, KeyObject> {
  const keys = new Map<string, KeyObject>();
  const trimmed = text.trim();
  const pems: string[] = [];
  if (trimmed.startsWith("{") || trimmed.startsWith("[")) {
    const doc = JSON.parse(trimmed) as { keys?: PublicKeyRecord[] } | PublicKeyRecord[];
    const list = Array.isArray(doc) ? doc : (doc.keys ?? []);
    for (const record of list) pems.push(record.publicKey);
  } else {
    pems.push(...(trimmed.match(/-----BEGIN PUBLIC KEY-----[\s\S]+?-----END PUBLIC KEY-----/g) ?? []));
  }
  for (const pem of pems) {
    const key = createPublicKey(pem);
    if (key.asymmetricKeyType !== "ed25519") throw new Error("audit public keys must be Ed25519");
    keys.set(keyIdOf(key), key);
  }
  return keys;
}

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
