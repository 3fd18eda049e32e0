import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";
import { afterCommit, type Tx, type TypedDb } from "../../../platform/db/db.js";
import type { ModuleContext } from "../../../platform/module.js";
import type { AuditEntryRecord } from "../format.js";
import type { AuditTables } from "../tables.js";
import type { EntryDraft } from "./rows.js";

/**
 * Personal fields of audit entries, sealed per data subject (crypto-shredding; docs/privacy.md).
 *
 * An entry about an end user (the user acted, or a user is a target) holds that user's personal
 * data: the actor's display name (an email), the client's IP and user agent, the metadata and the
 * changes. Those fields are written encrypted (AES-256-GCM) under a key of that user — the
 * subject's key, itself sealed under the plane's master key in `audit_subject_key`. The hash chain
 * covers the encrypted form, so erasing a user destroys the key and nothing else: every entry
 * stays in place, the chain and its signed checkpoints still verify, and the personal fields of
 * the user's entries can no longer be read by anyone (including from backups taken afterwards).
 *
 * Encodings (stable: they are part of the hashed entry): a sealed string is
 * `sealed:v1:<subject>:<base64(iv ‖ tag ‖ ciphertext)>`; a sealed object is
 * `{ "$sealed": "v1:<subject>:<…>" }` (the subject is a user id or an `addressSubject`).
 * After erasure the API shows `[erased]` and `{ "$erased": true }` in their place.
 */
const STRING_PREFIX = "sealed:v1:";
const OBJECT_KEY = "$sealed";
export const ERASED = "[erased]";

/** KEY_TOPIC is the bus topic that drops a subject's cached key in every process (on erasure). */
const KEY_TOPIC = "audit.subject_key";

export class PersonalFields {
  readonly #db: TypedDb<AuditTables>;
  /** subject → its key (null once erased); only committed keys are cached. */
  readonly #keys = new Map<string, Buffer | null>();

  constructor(private readonly m: ModuleContext) {
    this.#db = m.db.tables<AuditTables>();
    m.bus.subscribe(KEY_TOPIC, (payload) => {
      if (payload === "*") this.#keys.clear();
      else this.#keys.delete(payload);
    });
  }

  /** seal returns the draft with the subject's personal fields encrypted (the draft itself when it has no subject). */
  async seal(tx: Tx, draft: EntryDraft): Promise<EntryDraft> {
    const subject = subjectOf(draft);
    if (!subject || !draft.environmentId) return draft;
    const key = await this.#keyFor(tx, draft.environmentId, subject);
    const aad = Buffer.from(subject);
    const str = (value: string | null): string | null =>
      value === null ? null : key ? `${STRING_PREFIX}${subject}:${encrypt(key, aad, value)}` : ERASED;
    const obj = (value: Record<string, unknown>): Record<string, unknown> =>
      key ? { [OBJECT_KEY]: `v1:${subject}:${encrypt(key, aad, JSON.stringify(value))}` } : { $erased: true };
    const actorIsSubject = draft.actor.id === subject;
    return {
      ...draft,
      actor: actorIsSubject ? { ...draft.actor, displayName: str(draft.actor.displayName) } : draft.actor,
      context: actorIsSubject
        ? { ...draft.context, ip: str(draft.context.ip), userAgent: str(draft.context.userAgent) }
        : draft.context,
      metadata: Object.keys(draft.metadata).length === 0 ? draft.metadata : obj(draft.metadata),
      changes: draft.changes === null ? null : { before: obj(draft.changes.before), after: obj(draft.changes.after) },
    };
  }

  /** reveal returns entries with their sealed fields opened (`[erased]` where the key is gone). */
  async reveal(entries: AuditEntryRecord[]): Promise<AuditEntryRecord[]> {
    const subjects = new Set<string>();
    for (const e of entries) for (const s of sealedSubjects(e)) subjects.add(s);
    if (subjects.size === 0) return entries;
    const keys = await this.#keysOf([...subjects]);
    const str = (v: string | null) => (v?.startsWith(STRING_PREFIX) ? openString(keys, v) : v);
    return entries.map((e) => {
      if (!sealedSubjects(e).length) return e;
      return {
        ...e,
        actor: { ...e.actor, displayName: str(e.actor.displayName) },
        context: { ...e.context, ip: str(e.context.ip), userAgent: str(e.context.userAgent) },
        metadata: openObject(keys, e.metadata),
        changes:
          e.changes === null
            ? null
            : { before: openObject(keys, e.changes.before), after: openObject(keys, e.changes.after) },
      };
    });
  }

  /**
   * erase destroys a subject's key in `tx` (a tombstone stays, so later entries about the subject
   * hold no personal data) and drops it from every process's cache. Returns 1 when a key existed.
   */
  async erase(tx: Tx, environmentId: string, subject: string): Promise<number> {
    const now = this.m.clock.now();
    const updated = await this.#db
      .q(tx)
      .updateTable("audit_subject_key")
      .set({ sealed_key: null, erased_at: now })
      .where("id", "=", subject)
      .where("erased_at", "is", null)
      .executeTakeFirst();
    const had = Number(updated.numUpdatedRows);
    if (had === 0) {
      await this.#db
        .q(tx)
        .insertInto("audit_subject_key")
        .values({ id: subject, environment_id: environmentId, sealed_key: null, created_at: now, erased_at: now })
        .onConflict((oc) => oc.column("id").doNothing())
        .execute();
    }
    await this.m.bus.publish(tx, KEY_TOPIC, subject);
    this.#keys.delete(subject);
    return had;
  }

  /**
   * eraseAddress destroys the key of an address (entries about invitations to it); the row goes
   * entirely, so nothing keyed by the address stays behind. Returns 1 when a key existed.
   */
  async eraseAddress(tx: Tx, environmentId: string, email: string): Promise<number> {
    const subject = addressSubject(environmentId, email);
    const deleted = await this.#db.q(tx).deleteFrom("audit_subject_key").where("id", "=", subject).executeTakeFirst();
    await this.m.bus.publish(tx, KEY_TOPIC, subject);
    this.#keys.delete(subject);
    return Number(deleted.numDeletedRows);
  }

  async #keyFor(tx: Tx, environmentId: string, subject: string): Promise<Buffer | null> {
    const cached = this.#keys.get(subject);
    if (cached !== undefined) return cached;
    const q = this.#db.q(tx);
    let row = await q
      .selectFrom("audit_subject_key")
      .select(["sealed_key", "erased_at"])
      .where("id", "=", subject)
      .executeTakeFirst();
    if (!row) {
      const fresh = randomBytes(32);
      await q
        .insertInto("audit_subject_key")
        .values({
          id: subject,
          environment_id: environmentId,
          sealed_key: this.m.secrets.seal(fresh.toString("base64"), subject),
          created_at: this.m.clock.now(),
          erased_at: null,
        })
        .onConflict((oc) => oc.column("id").doNothing())
        .execute();
      row = await q
        .selectFrom("audit_subject_key")
        .select(["sealed_key", "erased_at"])
        .where("id", "=", subject)
        .executeTakeFirstOrThrow();
      const key = this.#open(subject, row.sealed_key);
      // Cached once committed: a rolled-back key never seals anything later.
      afterCommit(tx, () => void this.#keys.set(subject, key));
      return key;
    }
    const key = this.#open(subject, row.sealed_key);
    this.#keys.set(subject, key);
    return key;
  }

  async #keysOf(subjects: string[]): Promise<Map<string, Buffer | null>> {
    const out = new Map<string, Buffer | null>();
    const missing: string[] = [];
    for (const s of subjects) {
      const cached = this.#keys.get(s);
      if (cached !== undefined) out.set(s, cached);
      else missing.push(s);
    }
    for (let i = 0; i < missing.length; i += 500) {
      const rows = await this.#db
        .q()
        .selectFrom("audit_subject_key")
        .select(["id", "sealed_key"])
        .where("id", "in", missing.slice(i, i + 500))
        .execute();
      for (const r of rows) {
        const key = this.#open(r.id, r.sealed_key);
        out.set(r.id, key);
        this.#keys.set(r.id, key);
      }
    }
    return out;
  }

  #open(subject: string, sealed: string | null): Buffer | null {
    return sealed === null ? null : Buffer.from(this.m.secrets.open(sealed, subject), "base64");
  }
}

/**
 * subjectOf: whose personal data an entry holds — the acting end user, else the first user among
 * the targets, else the address in its metadata (`email`: an invitation to someone who may not be
 * a user yet), as `addressSubject`. Null for entries about no person.
 */
export function subjectOf(e: Pick<EntryDraft, "actor" | "targets" | "metadata" | "environmentId">): string | null {
  if (e.actor.type === "user" && e.actor.id) return e.actor.id;
  const user = e.targets.find((t) => t.type === "user");
  if (user) return user.id;
  const email = e.metadata.email;
  if (typeof email === "string" && e.environmentId) return addressSubject(e.environmentId, email);
  return null;
}

/**
 * addressSubject is the key id of an address that is not (yet) a user: a hash, so the key table
 * never holds the address itself. Erasing a user erases their address's key too.
 */
export function addressSubject(environmentId: string, email: string): string {
  return `addr_${createHash("sha256").update(`${environmentId}:${email.trim().toLowerCase()}`).digest("hex").slice(0, 40)}`;
}

/** sealedSubjects: the subjects whose keys an entry's sealed fields need (none for an entry with none). */
function sealedSubjects(e: AuditEntryRecord): string[] {
  const out: string[] = [];
  const fromString = (v: string | null) => {
    if (v?.startsWith(STRING_PREFIX)) out.push(v.slice(STRING_PREFIX.length, v.indexOf(":", STRING_PREFIX.length)));
  };
  const fromObject = (v: Record<string, unknown>) => {
    const sealed = v[OBJECT_KEY];
    if (typeof sealed === "string" && sealed.startsWith("v1:")) out.push(sealed.slice(3, sealed.indexOf(":", 3)));
  };
  fromString(e.actor.displayName);
  fromString(e.context.ip);
  fromString(e.context.userAgent);
  fromObject(e.metadata);
  if (e.changes) {
    fromObject(e.changes.before);
    fromObject(e.changes.after);
  }
  return out;
}

function encrypt(key: Buffer, aad: Buffer, plaintext: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", key, iv);
  cipher.setAAD(aad);
  const ct = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), ct]).toString("base64");
}

function decrypt(key: Buffer, aad: Buffer, encoded: string): string {
  const raw = Buffer.from(encoded, "base64");
  const decipher = createDecipheriv("aes-256-gcm", key, raw.subarray(0, 12));
  decipher.setAAD(aad);
  decipher.setAuthTag(raw.subarray(12, 28));
  return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString("utf8");
}

/** open splits `<subject>:<sealed>` and decrypts it with the subject's key (null once erased). */
function open(keys: Map<string, Buffer | null>, value: string): string | null {
  const at = value.indexOf(":");
  const subject = value.slice(0, at);
  const key = keys.get(subject) ?? null;
  return key ? decrypt(key, Buffer.from(subject), value.slice(at + 1)) : null;
}

function openString(keys: Map<string, Buffer | null>, value: string): string {
  return open(keys, value.slice(STRING_PREFIX.length)) ?? ERASED;
}

function openObject(keys: Map<string, Buffer | null>, value: Record<string, unknown>): Record<string, unknown> {
  const sealed = value[OBJECT_KEY];
  if (typeof sealed !== "string" || !sealed.startsWith("v1:")) return value;
  const plain = open(keys, sealed.slice(3));
  return plain === null ? { $erased: true } : (JSON.parse(plain) as Record<string, unknown>);
}
