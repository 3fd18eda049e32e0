import { sql } from "kysely";
import type { Clock } from "./clock.js";
import type { Db } from "./db/db.js";
import type { Logger } from "./logger.js";
import {
  createMasterKeyFile,
  type MasterKey,
  newMasterKey,
  readMasterKeyFile,
  readMasterKeyFileSync,
  SecretBox,
  SecretUnavailableError,
  writeMasterKeyFile,
} from "./secrets.js";

/**
 * SealedColumn names a column of sealed secrets (the row's `id` column is their associated data).
 * `json`: the column is a JSON column holding the sealed text as a JSON string (its plaintext is a
 * JSON document).
 */
export interface SealedColumn {
  table: string;
  column: string;
  json?: boolean;
}

const CHECK_ID = "master_key_check";
const CHECK_VALUE = "baseplate master key check";

export class MasterKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MasterKeyError";
  }
}

/**
 * SecretVault is the plane's access to its master key file (`BASEPLATE_MASTER_KEY_FILE`): it seals
 * and opens secrets for modules (`ModuleContext.secrets`) and rotates the master key online.
 *
 * `ready` (run at start, after migrations) refuses to start with a clear message when the database
 * holds secrets but the key file is missing or does not open them; it generates a key file (0600)
 * only for a plane that has never sealed anything, and says so loudly. Never a silent new key.
 * When a value names a master key this process does not know (another process rotated the key),
 * the file is read again once before `open` gives up.
 */
export class SecretVault {
  #box: SecretBox | null = null;
  #reloading: Promise<void> | null = null;

  constructor(
    private readonly db: Db,
    private readonly file: string,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {}

  /**
   * ready loads and checks the key ring (see the class comment), then seals whatever `columns`
   * still hold in plaintext (rows written before the column was sealed). Throws MasterKeyError.
   */
  async ready(columns: readonly SealedColumn[] = []): Promise<void> {
    await this.#load();
    for (const c of columns) await this.#sealPlaintext(c);
  }

  async #load(): Promise<void> {
    const check = await this.#check();
    this.#box = null;
    let ring = await readMasterKeyFile(this.file).catch((err: Error) => {
      throw new MasterKeyError(err.message);
    });
    if (!ring) {
      if (check) {
        throw new MasterKeyError(
          `The master key file ${this.file} is missing, but this database holds secrets sealed under a master key. ` +
            "Restore the file from your backup (or point BASEPLATE_MASTER_KEY_FILE at it); a new key would not open them.",
        );
      }
      const key = newMasterKey(this.clock.now());
      ring = await createMasterKeyFile(this.file, key);
      if (ring.current === key.id) {
        this.logger.warn(
          { file: this.file },
          "generated a new master key: BACK IT UP apart from the database; without it, stored webhook secrets and signing keys cannot be read",
        );
      }
    }
    const box = new SecretBox(ring.keys, ring.current);
    if (check) {
      try {
        if (box.open(check, CHECK_ID) !== CHECK_VALUE) throw new SecretUnavailableError("check value differs");
      } catch {
        throw new MasterKeyError(
          `The master key file ${this.file} does not open this database's secrets (wrong or outdated file: key ${SecretBox.keyIdOf(check) ?? "?"} is needed).`,
        );
      }
    }
    this.#box = box;
    if (!check) {
      // Two processes starting a new plane with different key files: the first check written wins,
      // and the other process refuses to start instead of sealing secrets no one else can open.
      await this.#writeCheck(box, { onlyIfAbsent: true });
      const stored = await this.#check();
      const opens = (() => {
        try {
          return stored !== null && box.open(stored, CHECK_ID) === CHECK_VALUE;
        } catch {
          return false;
        }
      })();
      if (!opens) {
        this.#box = null;
        throw new MasterKeyError(
          `Another process started this plane with a different master key (${SecretBox.keyIdOf(stored ?? "") ?? "?"}): give every process the same BASEPLATE_MASTER_KEY_FILE.`,
        );
      }
    } else if (SecretBox.keyIdOf(check) !== box.currentKeyId) {
      await this.#writeCheck(box);
    }
  }

  /** seal encrypts a secret for the row `rowId` under the current master key. */
  seal(plaintext: string, rowId: string): string {
    return this.#ready().seal(plaintext, rowId);
  }

  /**
   * open decrypts a value sealed for `rowId`. Throws SecretUnavailableError when no key of the file
   * opens it (after reading the file again, synchronously and only then, if the value names a key
   * this process does not know: another process rotated the master key).
   */
  open(sealed: string, rowId: string): string {
    const box = this.#ready();
    const keyId = SecretBox.keyIdOf(sealed);
    if (keyId && !box.keyIds.includes(keyId)) {
      const ring = readMasterKeyFileSync(this.file);
      if (ring) this.#box = new SecretBox(ring.keys, ring.current);
    }
    return this.#ready().open(sealed, rowId);
  }

  /** #sealPlaintext seals the values of a column that are not sealed yet. */
  async #sealPlaintext(c: SealedColumn): Promise<void> {
    const box = this.#ready();
    let after = "";
    for (;;) {
      const rows = await sql<{ id: string; value: unknown }>`
        select id, ${sql.ref(c.column)} as value from ${sql.table(c.table)}
        where ${sql.ref(c.column)} is not null and id > ${after} order by id limit 500`.execute(this.db.kysely);
      if (rows.rows.length === 0) return;
      for (const row of rows.rows) {
        after = row.id;
        const text = readColumn(row.value, c);
        if (text === null || SecretBox.isSealed(text)) continue;
        await this.#update(c, row.id, row.value, box.seal(text, row.id));
      }
    }
  }

  async #update(c: SealedColumn, id: string, before: unknown, sealed: string): Promise<void> {
    const value = c.json ? JSON.stringify(sealed) : sealed;
    const previous = c.json ? (typeof before === "string" ? before : JSON.stringify(before)) : before;
    // Conditional: a value changed meanwhile (a secret rotated) is already sealed anew.
    const where = c.json
      ? sql`cast(${sql.ref(c.column)} as text) = cast(${previous} as text)`
      : sql`${sql.ref(c.column)} = ${previous}`;
    const cast = c.json && this.db.engine === "postgres" ? sql`cast(${value} as jsonb)` : sql`${value}`;
    await sql`update ${sql.table(c.table)} set ${sql.ref(c.column)} = ${cast} where id = ${id} and ${where}`.execute(
      this.db.kysely,
    );
  }

  /**
   * rotate adds a new master key to the file, makes it current, and re-wraps every sealed value of
   * `columns` under it (in batches, online: running processes read the file again when they meet
   * the new key). Old keys stay in the file (backups may need them); remove them by hand once no
   * backup does. Reports progress through `progress(done, total)`. Returns the new key id and the
   * number of values re-wrapped.
   */
  async rotate(
    columns: readonly SealedColumn[],
    progress: (done: number, total: number) => void = () => undefined,
  ): Promise<{ keyId: string; rewrapped: number }> {
    await this.#reload();
    const ring = await readMasterKeyFile(this.file);
    if (!ring) throw new MasterKeyError(`The master key file ${this.file} is missing.`);
    const key: MasterKey = newMasterKey(this.clock.now());
    await writeMasterKeyFile(this.file, [...ring.keys, key], key.id);
    this.#box = new SecretBox([...ring.keys, key], key.id);
    const box = this.#box;

    let total = 0;
    for (const c of columns) total += await this.#count(c);
    let done = 0;
    for (const c of columns) {
      let after = "";
      for (;;) {
        const rows = await sql<{ id: string; value: unknown }>`
          select id, ${sql.ref(c.column)} as value from ${sql.table(c.table)}
          where ${sql.ref(c.column)} is not null and id > ${after} order by id limit 500`.execute(this.db.kysely);
        if (rows.rows.length === 0) break;
        for (const row of rows.rows) {
          after = row.id;
          const text = readColumn(row.value, c);
          const rewrapped = text !== null && SecretBox.isSealed(text) ? box.rewrap(text, row.id) : null;
          if (rewrapped) await this.#update(c, row.id, row.value, rewrapped);
          done++;
        }
        progress(done, total);
      }
    }
    await this.#writeCheck(box);
    return { keyId: key.id, rewrapped: done };
  }

  /** sealJson seals a JSON document for a `json` sealed column (store the result with toJson). */
  sealJson(value: unknown, rowId: string): string {
    return this.seal(JSON.stringify(value), rowId);
  }

  #ready(): SecretBox {
    if (!this.#box) throw new Error("the master key is not loaded: SecretVault.ready() runs when the app starts");
    return this.#box;
  }

  async #reload(): Promise<void> {
    this.#reloading ??= readMasterKeyFile(this.file)
      .then((ring) => {
        if (ring) this.#box = new SecretBox(ring.keys, ring.current);
      })
      .finally(() => {
        this.#reloading = null;
      });
    await this.#reloading;
  }

  async #count(c: SealedColumn): Promise<number> {
    const r = await sql<{ n: number | string }>`
      select count(*) as n from ${sql.table(c.table)} where ${sql.ref(c.column)} is not null`.execute(this.db.kysely);
    return Number(r.rows[0]?.n ?? 0);
  }

  async #check(): Promise<string | null> {
    const r = await sql<{ sealed: string }>`select sealed from master_key_check where id = ${CHECK_ID}`.execute(
      this.db.kysely,
    );
    return r.rows[0]?.sealed ?? null;
  }

  async #writeCheck(box: SecretBox, options: { onlyIfAbsent?: boolean } = {}): Promise<void> {
    const sealed = box.seal(CHECK_VALUE, CHECK_ID);
    const now = this.clock.now();
    const onConflict = options.onlyIfAbsent
      ? sql`do nothing`
      : sql`do update set sealed = excluded.sealed, updated_at = excluded.updated_at`;
    await sql`insert into master_key_check (id, sealed, updated_at) values (${CHECK_ID}, ${sealed}, ${now})
      on conflict (id) ${onConflict}`.execute(this.db.kysely);
  }
}

/**
 * readColumn returns a sealed column's value as text: the text itself, or for a JSON column the
 * sealed JSON string (or, for a row written before sealing, the JSON document as text). Null when
 * the column is empty.
 */
function readColumn(value: unknown, c: SealedColumn): string | null {
  if (value === null || value === undefined) return null;
  if (!c.json) return String(value);
  // PostgreSQL hands a jsonb string back already decoded; SQLite hands back the JSON text.
  if (typeof value === "string" && SecretBox.isSealed(value)) return value;
  const parsed = typeof value === "string" ? (JSON.parse(value) as unknown) : value;
  return typeof parsed === "string" ? parsed : JSON.stringify(parsed);
}
