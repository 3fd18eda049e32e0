import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, sign } from "node:crypto";
import { readFileSync } from "node:fs";
import { z } from "zod";
import type { Tx, TypedDb } from "../../../platform/db/db.js";
import { AppError } from "../../../platform/errors.js";
import { decodeCursor, keysetPage } from "../../../platform/http/pagination.js";
import { iso } from "../../../platform/http/schemas.js";
import type { ModuleContext } from "../../../platform/module.js";
import type { ActionContext } from "../../../platform/principal.js";
import { SecretBox } from "../../../platform/secrets.js";
import { AuditErrors } from "../errors.js";
import { type CheckpointBody, canonicalJson, checkpointHash, keyIdOf, type SignedCheckpoint } from "../format.js";
import { newId } from "../ids.js";
import { chainOf, toCheckpoint } from "../internal/rows.js";
import type { Checkpoint } from "../schemas.js";
import type { AuditTables } from "../tables.js";
import type { ChainLedger } from "./chains.js";

interface SigningKey {
  keyId: string;
  privateKey: KeyObject;
}

/**
 * Checkpoints signs chain heads. The signing key is, in order of preference: the PEM file named by
 * BASEPLATE_AUDIT_SIGNING_KEY_FILE (kept outside the database, so whoever can write the database
 * cannot re-sign a rewritten history), or a key the plane generated on first start and keeps in
 * `audit_signing_key`. Public keys of retired keys stay published so old checkpoints still verify.
 */
export class Checkpoints {
  #fileKey: SigningKey | null = null;
  readonly #parsed = new Map<string, KeyObject>();

  readonly #db: TypedDb<AuditTables>;

  constructor(
    private readonly m: ModuleContext,
    private readonly chains: ChainLedger,
  ) {
    this.#db = m.db.tables<AuditTables>();
  }

  /**
   * start makes sure a signing key exists: it registers the configured file's key (retiring any
   * other), or generates and stores one when none is active. Throws when the file is unreadable
   * or not an Ed25519 private key.
   */
  async start(): Promise<void> {
    const file = this.m.config.auditSigningKeyFile;
    if (file) {
      const privateKey = createPrivateKey(readFileSync(file, "utf8"));
      if (privateKey.asymmetricKeyType !== "ed25519") throw new Error(`${file} is not an Ed25519 private key`);
      const publicKey = createPublicKey(privateKey);
      this.#fileKey = { keyId: keyIdOf(publicKey), privateKey };
      const keyId = this.#fileKey.keyId;
      await this.m.db.transaction((tx) => this.#register(tx, keyId, publicKey, null));
      return;
    }
    const active = await this.#db
      .q()
      .selectFrom("audit_signing_key")
      .select("id")
      .where("status", "=", "active")
      .where("private_key", "is not", null)
      .executeTakeFirst();
    if (!active) await this.#generate();
  }

  /**
   * rotateSigningKey (admin operators) generates a new stored key and retires the others: their
   * public keys stay published, so older checkpoints still verify. Refused (409) when the key comes
   * from a file: replace the file and restart instead.
   */
  async rotateSigningKey(ctx: ActionContext): Promise<{ keyId: string; publicKey: string }> {
    this.m.access.operator(ctx, "audit_keys:write");
    if (this.#fileKey) {
      throw new AppError(
        AuditErrors.audit_signing_key_external,
        "The signing key comes from BASEPLATE_AUDIT_SIGNING_KEY_FILE: replace the file and restart.",
      );
    }
    return this.m.db.write(ctx, async (tx) => {
      const key = await this.#generate(tx);
      await this.m.facts.record(tx, ctx, {
        type: "audit_signing_key.rotated",
        environmentId: null,
        targets: [{ type: "audit_signing_key", id: key.keyId }],
        data: { keyId: key.keyId },
      });
      return key;
    });
  }

  async #generate(tx?: Tx): Promise<{ keyId: string; publicKey: string }> {
    const { privateKey, publicKey } = generateKeyPairSync("ed25519");
    const keyId = keyIdOf(publicKey);
    const privatePem = privateKey.export({ type: "pkcs8", format: "pem" }) as string;
    if (tx) await this.#register(tx, keyId, publicKey, privatePem);
    else await this.m.db.transaction((t) => this.#register(t, keyId, publicKey, privatePem));
    return { keyId, publicKey: publicKey.export({ type: "spki", format: "pem" }) as string };
  }

  async #register(tx: Tx, keyId: string, publicKey: KeyObject, privatePem: string | null): Promise<void> {
    const now = this.m.clock.now();
    await this.#db
      .q(tx)
      .insertInto("audit_signing_key")
      .values({
        id: keyId,
        public_key: publicKey.export({ type: "spki", format: "pem" }) as string,
        // Sealed under the plane's master key: a copy of the database does not hold a usable key.
        private_key: privatePem === null ? null : this.m.secrets.seal(privatePem, keyId),
        status: "active",
        created_at: now,
        retired_at: null,
      })
      .onConflict((oc) => oc.column("id").doUpdateSet({ status: "active", retired_at: null }))
      .execute();
    await this.#db
      .q(tx)
      .updateTable("audit_signing_key")
      .set({ status: "retired", retired_at: now })
      .where("id", "!=", keyId)
      .where("status", "=", "active")
      .execute();
  }

  /**
   * signDocument signs `bytes` (a document's canonical JSON, e.g. a review report) with the audit
   * signing key, the one that signs checkpoints: whoever verifies those with the published public
   * keys can verify the document too.
   */
  async signDocument(bytes: Buffer): Promise<{ keyId: string; signature: string }> {
    const key = await this.#signingKey();
    return { keyId: key.keyId, signature: sign(null, bytes, key.privateKey).toString("base64") };
  }

  /** signingKeyId names the key `signDocument` signs with now. */
  async signingKeyId(): Promise<string> {
    return (await this.#signingKey()).keyId;
  }

  /** latestCheckpoint returns a chain's newest signed checkpoint, or null. */
  async latestCheckpoint(chain: string): Promise<Checkpoint | null> {
    const row = await this.#db
      .q()
      .selectFrom("audit_checkpoint")
      .selectAll()
      .where("chain_id", "=", chain)
      .orderBy("position", "desc")
      .limit(1)
      .executeTakeFirst();
    return row ? toCheckpoint(row) : null;
  }

  /** signingKey returns the key to sign with: the file's, else the newest active stored key. */
  async #signingKey(tx?: Tx): Promise<SigningKey> {
    if (this.#fileKey) return this.#fileKey;
    const row = await this.#db
      .q(tx)
      .selectFrom("audit_signing_key")
      .select(["id", "private_key"])
      .where("status", "=", "active")
      .where("private_key", "is not", null)
      .orderBy("created_at", "desc")
      .orderBy("id", "desc")
      .executeTakeFirst();
    if (!row?.private_key) throw new Error("no audit signing key: the audit module has not started");
    let privateKey = this.#parsed.get(row.id);
    if (!privateKey) {
      const pem = SecretBox.isSealed(row.private_key) ? this.m.secrets.open(row.private_key, row.id) : row.private_key;
      privateKey = createPrivateKey(pem);
      this.#parsed.set(row.id, privateKey);
    }
    return { keyId: row.id, privateKey };
  }

  /** listPublicKeys returns every signing key's public half, newest first. */
  async listPublicKeys() {
    const rows = await this.#db
      .q()
      .selectFrom("audit_signing_key")
      .select(["id", "public_key", "status", "created_at"])
      .orderBy("created_at", "desc")
      .orderBy("id", "desc")
      .execute();
    return {
      keys: rows.map((r) => ({
        keyId: r.id,
        algorithm: "Ed25519" as const,
        publicKey: r.public_key,
        status: r.status,
        createdAt: iso(r.created_at),
      })),
    };
  }

  /**
   * checkpointIn signs the head of `chain` in `tx` (under the chain's lock, so the head is exact),
   * linked to the chain's previous checkpoint. An unchanged chain still gets a new checkpoint
   * (proof that nothing was written meanwhile).
   */
  async checkpointIn(tx: Tx, environmentId: string | null, tenantId: string | null): Promise<Checkpoint> {
    const chain = chainOf(environmentId, tenantId);
    const head = await this.chains.lockHead(tx, chain, environmentId, tenantId);
    const db = this.#db.q(tx);
    const previous = await db
      .selectFrom("audit_checkpoint")
      .selectAll()
      .where("chain_id", "=", chain)
      .orderBy("position", "desc")
      .limit(1)
      .executeTakeFirst();
    const key = await this.#signingKey(tx);
    const body: CheckpointBody = {
      v: 1,
      chain,
      size: head.size,
      headHash: head.hash,
      time: Math.max(this.m.clock.now(), previous ? Number(previous.time) : 0),
      previousCheckpointHash: previous?.checkpoint_hash ?? null,
      keyId: key.keyId,
    };
    const signature = sign(null, Buffer.from(canonicalJson(body)), key.privateKey).toString("base64");
    const signed: SignedCheckpoint = { ...body, signature };
    const row = {
      id: newId("auditCheckpoint", body.time),
      chain_id: chain,
      position: previous ? Number(previous.position) + 1 : 1,
      environment_id: environmentId,
      tenant_id: tenantId,
      size: body.size,
      head_hash: body.headHash,
      time: body.time,
      previous_checkpoint_hash: body.previousCheckpointHash,
      key_id: body.keyId,
      signature,
      checkpoint_hash: checkpointHash(signed),
    };
    await db.insertInto("audit_checkpoint").values(row).execute();
    return toCheckpoint(row);
  }

  /** checkpointAll checkpoints every chain, one transaction each (the hourly schedule). Returns the count. */
  async checkpointAll(): Promise<number> {
    const chains = await this.#db.q().selectFrom("audit_chain").select(["id", "environment_id", "tenant_id"]).execute();
    for (const c of chains) {
      await this.m.db.transaction((tx) => this.checkpointIn(tx, c.environment_id, c.tenant_id));
    }
    return chains.length;
  }

  /** listCheckpoints pages a chain's checkpoints, newest first. */
  async listCheckpoints(chain: string, query: { limit: number; cursor?: string | undefined }) {
    const before = query.cursor ? decodeCursor(query.cursor, z.object({ position: z.number().int() })).position : null;
    const checkpoints = this.#db.q().selectFrom("audit_checkpoint").selectAll().where("chain_id", "=", chain);
    return keysetPage(
      checkpoints,
      { column: "position", after: before, descending: true },
      query.limit,
      (r) => ({ position: Number(r.position) }),
      toCheckpoint,
    );
  }
}
