import { createHash, createPublicKey, hash, type KeyObject, verify as verifySignature } from "node:crypto";
import { canonicalJson } from "../../platform/canonical-json.js";

export { canonicalJson };

/**
 * The audit trail's format: what an entry and a checkpoint are, how they are encoded and hashed,
 * and how keys are named. With `verifier.ts` it depends on nothing of the server but `node:crypto`
 * and the platform's canonical JSON, so the server, the offline CLI and a buyer's own tooling share
 * one definition. docs/audit.md describes the same format in prose.
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

/** NEEDS_ESCAPE: what JSON.stringify escapes in a string (quote, backslash, control characters, surrogates). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point.
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

/** str is JSON.stringify of a string (or null), without its call for the usual strings that need no escape. */
function str(value: string | null): string {
  if (value === null) return "null";
  return NEEDS_ESCAPE.test(value) ? JSON.stringify(value) : `"${value}"`;
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

/** isFastShape: the entry has exactly the fields and field types `encodeEntry` writes by hand. */
function isFastShape(e: AuditEntryRecord): boolean {
  const { actor, context, targets } = e;
  const b = actor?.onBehalfOf;
  let keys = 0;
  for (const k in e) {
    if (k !== "hash") {
      if (!QUOTED_KEYS.has(k)) return false;
      keys++;
    }
  }
  return (
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
    isText(context.userAgent)
  );
}

/**
 * EncodedEntry is an entry's canonical body and the canonical encodings of its JSON members (what
 * the writer stores in the JSON columns, so each is encoded once).
 */
export interface EncodedEntry {
  body: string;
  actor: string;
  targets: string;
  context: string;
  metadata: string;
  changes: string | null;
}

/**
 * encodeEntry encodes an entry (without its `hash`) canonically, written field by field (the
 * writer's hot path). Any other shape than the usual (a field more or less, an actor or context
 * with other fields, non-string ids) falls back to `canonicalJson`: the output is the same.
 */
export function encodeEntry(entry: Omit<AuditEntryRecord, "hash"> | AuditEntryRecord): EncodedEntry {
  const e = entry as AuditEntryRecord;
  if (!isFastShape(e)) {
    const { hash: _hash, ...body } = e;
    return {
      body: canonicalJson(body),
      actor: canonicalJson(e.actor),
      targets: canonicalJson(e.targets),
      context: canonicalJson(e.context),
      metadata: canonicalJson(e.metadata),
      changes: e.changes === null ? null : canonicalJson(e.changes),
    };
  }
  const { actor, context, targets } = e;
  const b = actor.onBehalfOf;
  // Keys in sorted order (ENTRY_BODY_KEYS sorted): action, actor, chain, changes, context,
  // environmentId, factId, id, metadata, occurredAt, prevHash, seq, source, targets, tenantId, v.
  let t = "[";
  for (let i = 0; i < targets.length; i++) {
    const target = targets[i] as { type: string; id: string };
    t += `${i > 0 ? "," : ""}{"id":${str(target.id)},"type":${str(target.type)}}`;
  }
  t += "]";
  const a =
    `{"displayName":${str(actor.displayName)},"id":${str(actor.id)},"model":${str(actor.model)},"onBehalfOf":` +
    (b ? `{"id":${str(b.id)},"reason":${str(b.reason)},"type":${str(b.type)}}` : "null") +
    `,"type":${str(actor.type)}}`;
  const c = `{"ip":${str(context.ip)},"requestId":${str(context.requestId)},"surfaceId":${str(context.surfaceId)},"userAgent":${str(context.userAgent)}}`;
  const metadata = canonicalJson(e.metadata);
  const changes = canonicalJson(e.changes);
  const body =
    `{"action":${str(e.action)},"actor":${a},"chain":${str(e.chain)},"changes":${changes},"context":${c}` +
    `,"environmentId":${str(e.environmentId)},"factId":${str(e.factId)},"id":${str(e.id)},"metadata":${metadata}` +
    `,"occurredAt":${e.occurredAt},"prevHash":${str(e.prevHash)},"seq":${e.seq},"source":${str(e.source)}` +
    `,"targets":${t},"tenantId":${str(e.tenantId)},"v":1}`;
  return { body, actor: a, targets: t, context: c, metadata, changes: e.changes === null ? null : changes };
}

/** canonicalEntryBody is `canonicalJson` of an entry without its `hash` (see `encodeEntry`). */
export function canonicalEntryBody(entry: Omit<AuditEntryRecord, "hash"> | AuditEntryRecord): string {
  const e = entry as AuditEntryRecord;
  if (!isFastShape(e)) {
    const { hash: _hash, ...body } = e;
    return canonicalJson(body);
  }
  return encodeEntry(e).body;
}

/**
 * Export layout of an entry line: `{"type":"entry","hash":"<hash>",` followed by the canonical
 * body without its opening brace. The line is the same JSON object as any other member order,
 * and it holds the hashed bytes as they are: a verifier hashes
 * `prevHash bytes ‖ "{" ‖ line.slice(ENTRY_LINE_PREFIX_LENGTH)` without re-encoding the entry.
 */
export const ENTRY_LINE_PREFIX = '{"type":"entry","hash":"';
/** ENTRY_LINE_PREFIX_LENGTH: the prefix, the 64 hex digits of the hash and `",`. */
export const ENTRY_LINE_PREFIX_LENGTH = ENTRY_LINE_PREFIX.length + 64 + 2;

/** entryLine is an entry's export line (no newline); `body` is its canonical body when already known. */
export function entryLine(entry: AuditEntryRecord, body: string = canonicalEntryBody(entry)): string {
  return `${ENTRY_LINE_PREFIX}${entry.hash}",${body.slice(1)}`;
}

/** entryBody is the part of an entry its hash covers: everything but `hash`. */
export function entryBody(entry: AuditEntryRecord | Omit<AuditEntryRecord, "hash">): Omit<AuditEntryRecord, "hash"> {
  const { hash: _hash, ...body } = entry as AuditEntryRecord;
  return body;
}

/** entryHash computes `SHA-256(prevHash bytes ‖ canonical(body))` as hex. */
export function entryHash(entry: Omit<AuditEntryRecord, "hash"> | AuditEntryRecord): string {
  return hashEntryBody(entry.prevHash, canonicalEntryBody(entry));
}

let scratch = Buffer.allocUnsafe(64 * 1024);

/** hashEntryBody is `SHA-256(prevHash bytes ‖ body)` as hex, for a body already encoded canonically. */
export function hashEntryBody(prevHash: string, body: string): string {
  const need = prevHash.length + body.length * 3;
  if (scratch.length < need) scratch = Buffer.allocUnsafe(need);
  // As Buffer.from(prevHash, "hex"): the bytes of the hex digits up to the first non-hex one.
  const at = scratch.write(prevHash, 0, "hex");
  const n = scratch.write(body, at, "utf8");
  return hash("sha256", scratch.subarray(0, at + n), "hex");
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
