import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { chmod, link, mkdir, readFile, rename, unlink, writeFile } from "node:fs/promises";
import { dirname } from "node:path";

/**
 * Secrets the plane must read back (webhook signing secrets, receivers' custom header values, the
 * audit signing key) are stored sealed under the plane's master key, which never enters the
 * database (DESIGN.md §4). Envelope encryption: each value gets its own random 256-bit data key;
 * the value is encrypted with it (AES-256-GCM), and the data key is wrapped by a master key
 * (AES-256-GCM). Both use the owning row's id as associated data, so a sealed value copied onto
 * another row does not open. Master keys are versioned: a sealed value names the key that wraps it,
 * and rotating the master key re-wraps data keys only (the values themselves are not re-encrypted).
 *
 * Sealed form (text, safe in any column): `bps1.<masterKeyId>.<wrap iv>.<wrapped data key + tag>.<iv>.<ciphertext + tag>`,
 * every part base64url.
 */

const PREFIX = "bps1";
const KEY_ID = /^mk_[0-9a-z]{8,40}$/;

/** MasterKey is one version of the plane's master key. */
export interface MasterKey {
  id: string;
  key: Buffer;
  createdAt: number;
}

/** MasterKeyFile is the on-disk form: every version still needed, and the one new values use. */
export interface MasterKeyFile {
  current: string;
  keys: Array<{ id: string; key: string; createdAt: number }>;
}

export class SecretUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SecretUnavailableError";
  }
}

function gcm(key: Buffer, iv: Buffer, plaintext: Buffer, aad: string): Buffer {
  const cipher = createCipheriv("aes-256-gcm", key, iv);
  cipher.setAAD(Buffer.from(aad, "utf8"));
  return Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
}

function ungcm(key: Buffer, iv: Buffer, sealed: Buffer, aad: string): Buffer {
  if (sealed.length < 16) throw new SecretUnavailableError("sealed value is truncated");
  const decipher = createDecipheriv("aes-256-gcm", key, iv);
  decipher.setAAD(Buffer.from(aad, "utf8"));
  decipher.setAuthTag(sealed.subarray(sealed.length - 16));
  return Buffer.concat([decipher.update(sealed.subarray(0, sealed.length - 16)), decipher.final()]);
}

const b64 = (b: Buffer) => b.toString("base64url");
const unb64 = (s: string) => Buffer.from(s, "base64url");

/**
 * SecretBox seals and opens secrets under the master key ring. `seal` always uses the current
 * key; `open` accepts any key of the ring. Both throw `SecretUnavailableError` (never return a
 * wrong value): an unknown key id, a value moved to another row, or any tampering.
 */
export class SecretBox {
  readonly #keys = new Map<string, MasterKey>();
  #current: MasterKey;

  constructor(keys: readonly MasterKey[], currentId: string) {
    for (const k of keys) {
      if (k.key.length !== 32) throw new Error(`master key ${k.id} is not 256 bits`);
      this.#keys.set(k.id, k);
    }
    const current = this.#keys.get(currentId);
    if (!current) throw new Error(`the current master key ${currentId} is not in the key ring`);
    this.#current = current;
  }

  /** currentKeyId names the master key new values are sealed under. */
  get currentKeyId(): string {
    return this.#current.id;
  }

  /** keyIds lists every master key version of the ring. */
  get keyIds(): string[] {
    return [...this.#keys.keys()];
  }

  /** isSealed tells a sealed value from plaintext (what rows written before sealing hold). */
  static isSealed(value: string): boolean {
    return value.startsWith(`${PREFIX}.`);
  }

  /** keyIdOf names the master key a sealed value is wrapped by. */
  static keyIdOf(sealed: string): string | null {
    const parts = sealed.split(".");
    return parts[0] === PREFIX && parts.length === 6 ? (parts[1] ?? null) : null;
  }

  /** seal encrypts `plaintext` for the row `rowId` (its associated data). */
  seal(plaintext: string, rowId: string): string {
    const dataKey = randomBytes(32);
    const iv = randomBytes(12);
    const wrapIv = randomBytes(12);
    const value = gcm(dataKey, iv, Buffer.from(plaintext, "utf8"), rowId);
    const wrapped = gcm(this.#current.key, wrapIv, dataKey, `${rowId}#dek`);
    return [PREFIX, this.#current.id, b64(wrapIv), b64(wrapped), b64(iv), b64(value)].join(".");
  }

  /** open decrypts a value sealed for the row `rowId`. */
  open(sealed: string, rowId: string): string {
    const { masterKey, wrapIv, wrapped, iv, value } = this.#parse(sealed);
    try {
      const dataKey = ungcm(masterKey.key, wrapIv, wrapped, `${rowId}#dek`);
      return ungcm(dataKey, iv, value, rowId).toString("utf8");
    } catch (err) {
      if (err instanceof SecretUnavailableError) throw err;
      throw new SecretUnavailableError("a sealed secret does not open: wrong row, wrong key, or tampered");
    }
  }

  /**
   * rewrap re-wraps a sealed value's data key under the current master key (the value itself is
   * untouched). Returns null when it already is.
   */
  rewrap(sealed: string, rowId: string): string | null {
    const { masterKey, wrapIv, wrapped, iv, value } = this.#parse(sealed);
    if (masterKey.id === this.#current.id) return null;
    let dataKey: Buffer;
    try {
      dataKey = ungcm(masterKey.key, wrapIv, wrapped, `${rowId}#dek`);
    } catch {
      throw new SecretUnavailableError("a sealed secret does not open: wrong row, wrong key, or tampered");
    }
    const newIv = randomBytes(12);
    const rewrapped = gcm(this.#current.key, newIv, dataKey, `${rowId}#dek`);
    return [PREFIX, this.#current.id, b64(newIv), b64(rewrapped), b64(iv), b64(value)].join(".");
  }

  #parse(sealed: string) {
    const parts = sealed.split(".");
    if (parts.length !== 6 || parts[0] !== PREFIX) throw new SecretUnavailableError("not a sealed secret");
    const [, keyId, wrapIv, wrapped, iv, value] = parts as [string, string, string, string, string, string];
    const masterKey = this.#keys.get(keyId);
    if (!masterKey) {
      throw new SecretUnavailableError(`sealed under master key ${keyId}, which is not in BASEPLATE_MASTER_KEY_FILE`);
    }
    return { masterKey, wrapIv: unb64(wrapIv), wrapped: unb64(wrapped), iv: unb64(iv), value: unb64(value) };
  }
}

/** newMasterKey generates a master key version. */
export function newMasterKey(now: number): MasterKey {
  return { id: `mk_${now.toString(36)}${randomBytes(5).toString("hex")}`, key: randomBytes(32), createdAt: now };
}

/** parseMasterKeyFile reads the key file's text. Throws a message naming what is wrong. */
export function parseMasterKeyFile(text: string, path: string): { keys: MasterKey[]; current: string } {
  let doc: MasterKeyFile;
  try {
    doc = JSON.parse(text) as MasterKeyFile;
  } catch {
    throw new Error(`${path} is not a Baseplate master key file (not JSON)`);
  }
  if (!doc || typeof doc.current !== "string" || !Array.isArray(doc.keys) || doc.keys.length === 0) {
    throw new Error(`${path} is not a Baseplate master key file (it needs "current" and "keys")`);
  }
  const keys = doc.keys.map((k) => {
    const key = typeof k?.key === "string" ? Buffer.from(k.key, "base64") : Buffer.alloc(0);
    if (typeof k?.id !== "string" || !KEY_ID.test(k.id) || key.length !== 32) {
      throw new Error(`${path}: every key needs an id (mk_…) and 32 bytes of base64 key material`);
    }
    return { id: k.id, key, createdAt: Number(k.createdAt) || 0 };
  });
  if (!keys.some((k) => k.id === doc.current)) throw new Error(`${path}: the current key ${doc.current} is not listed`);
  return { keys, current: doc.current };
}

/** writeMasterKeyFile writes the key file atomically, readable by its owner only (0600). */
export async function writeMasterKeyFile(path: string, keys: readonly MasterKey[], current: string): Promise<void> {
  const doc: MasterKeyFile = {
    current,
    keys: keys.map((k) => ({ id: k.id, key: k.key.toString("base64"), createdAt: k.createdAt })),
  };
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(doc, null, 2)}\n`, { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, path);
}

/**
 * createMasterKeyFile writes a new key file holding `key`, 0600, only if none exists yet; when
 * another process created one first, that file's ring is returned instead.
 */
export async function createMasterKeyFile(
  path: string,
  key: MasterKey,
): Promise<{ keys: MasterKey[]; current: string }> {
  const doc: MasterKeyFile = {
    current: key.id,
    keys: [{ id: key.id, key: key.key.toString("base64"), createdAt: key.createdAt }],
  };
  await mkdir(dirname(path), { recursive: true });
  // The file appears whole or not at all: it is written under a private name, then hard-linked
  // into place (link fails if the name exists), so a process starting at the same moment never
  // reads a half-written file.
  const tmp = `${path}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`;
  await writeFile(tmp, `${JSON.stringify(doc, null, 2)}\n`, { mode: 0o600, flag: "wx" });
  try {
    await chmod(tmp, 0o600);
    await link(tmp, path);
    return { keys: [key], current: key.id };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    const ring = await readMasterKeyFile(path);
    if (!ring) throw new Error(`${path} vanished while it was being created`);
    return ring;
  } finally {
    await unlink(tmp).catch(() => {});
  }
}

/** readMasterKeyFile returns the key ring in `path`, or null when the file does not exist. */
export async function readMasterKeyFile(path: string): Promise<{ keys: MasterKey[]; current: string } | null> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw new Error(`${path} cannot be read: ${(err as Error).message}`);
  }
  return parseMasterKeyFile(text, path);
}

/** readMasterKeyFileSync is `readMasterKeyFile` for the rare synchronous reload after a rotation. */
export function readMasterKeyFileSync(path: string): { keys: MasterKey[]; current: string } | null {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw new Error(`${path} cannot be read: ${(err as Error).message}`);
  }
  return parseMasterKeyFile(text, path);
}
