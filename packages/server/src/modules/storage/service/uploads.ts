import type { IncomingHttpHeaders } from "node:http";
import { type Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { Selectable } from "kysely";
import type { z } from "zod";
import { fromJson, type TypedDb, toJson } from "../../../platform/db/db.js";
import { AppError, PlatformErrors } from "../../../platform/errors.js";
import { iso } from "../../../platform/http/schemas.js";
import type { ModuleContext } from "../../../platform/module.js";
import { type ActionContext, systemContext } from "../../../platform/principal.js";
import { StorageErrors } from "../errors.js";
import { newId } from "../ids.js";
import { type BlobStore, blobKey } from "../internal/blob-store.js";
import { displayName } from "../internal/http.js";
import { Ingest, TooLarge, TypeRefused } from "../internal/ingest.js";
import { toBucket, toFile } from "../internal/rows.js";
import { SNIFF_BYTES, typeAllowed } from "../internal/sniff.js";
import type {
  Bucket,
  CreateDirectUploadInput,
  CreateUploadInput,
  DirectUpload,
  StoredFile,
  UploadSession,
} from "../schemas.js";
import type { StorageFileTable, StorageTables, StorageUploadTable, UploadKind } from "../tables.js";
import type { BucketsService } from "./buckets.js";
import type { UsageService } from "./usage.js";

type Row = Selectable<StorageUploadTable>;
type Part = { n: number; etag: string | null };
const BATCH = 200;
/** MAX_PARTS: S3 takes at most 10,000 parts in one multipart upload. */
const MAX_PARTS = 10_000;

/**
 * UploadsService: upload sessions, for bytes that do not arrive in one request.
 *
 * - **Resumable**: a session is created with the file's size (and optionally its SHA-256); chunks
 *   are `PUT` at the session's offset, each written durably before the offset moves (S3: one
 *   multipart part per chunk; local: an append-only file, fsynced); `complete` makes the file.
 * - **Direct** (S3 only): a session answers a presigned PUT URL for a server-generated key; the
 *   client PUTs the bytes straight to S3 and `complete` (finalize) checks them.
 *
 * Completion is the same for both: the blob is streamed back once to compute its SHA-256 and sniff
 * its type (the hash state of a chunked upload is not kept between requests: recomputing it from
 * the stored bytes is what proves they are the declared ones), then one transaction reserves the
 * quota (the conditional update of a normal upload), inserts the file, marks the session completed
 * and records `file.uploaded` (with its usage event). A refusal deletes the bytes and the session.
 */
export class UploadsService {
  readonly #db: TypedDb<StorageTables>;

  constructor(
    private readonly m: ModuleContext,
    readonly store: BlobStore,
    private readonly buckets: BucketsService,
    private readonly usage: UsageService,
  ) {
    this.#db = m.db.tables<StorageTables>();
  }

  /** create opens a resumable session: the same guard as an upload, with the size declared up front. */
  async create(ctx: ActionContext, bucketId: string, input: z.infer<typeof CreateUploadInput>) {
    const { bucket, environmentId, tenantId } = await this.#guard(ctx, bucketId, input);
    const row = this.#newRow(ctx, "resumable", bucket, environmentId, tenantId, input);
    row.handle = await this.store.beginSession(row.blob_key, row.id);
    try {
      await this.#insert(ctx, row);
    } catch (err) {
      await this.store.abortSession(row.blob_key, row.handle).catch(() => {});
      throw err;
    }
    return this.#toSession(row);
  }

  /** createDirect opens a direct session and answers the presigned PUT (S3 driver only). */
  async createDirect(
    ctx: ActionContext,
    bucketId: string,
    input: z.infer<typeof CreateDirectUploadInput>,
  ): Promise<z.infer<typeof DirectUpload>> {
    const { bucket, environmentId, tenantId } = await this.#guard(ctx, bucketId, input, "body.bucketId");
    if (this.store.kind !== "s3") {
      throw new AppError(
        StorageErrors.direct_upload_unsupported,
        "This plane keeps files in a local folder: upload through the plane (a single request, or a resumable session).",
      );
    }
    if (!typeAllowed(input.contentType.toLowerCase(), bucket.allowedTypes)) {
      throw new AppError(
        StorageErrors.file_type_refused,
        `Bucket ${bucket.name} accepts ${bucket.allowedTypes.join(", ")}, not ${input.contentType}.`,
      );
    }
    const row = this.#newRow(ctx, "direct", bucket, environmentId, tenantId, input);
    const seconds = Math.min(input.expiresInSeconds, Math.floor(this.m.config.storage.uploadSessionMs / 1000));
    const put = await this.store.presignPut(row.blob_key, {
      size: input.size,
      contentType: input.contentType,
      expiresInSeconds: seconds,
    });
    await this.#insert(ctx, row);
    return {
      ...this.#toSession(row),
      upload: { method: "PUT", url: put.url, headers: put.headers, expiresAt: iso(row.created_at + seconds * 1000) },
    };
  }

  async get(ctx: ActionContext, id: string): Promise<UploadSession> {
    return this.#toSession(await this.#load(ctx, id, "files:read"));
  }

  /**
   * chunk writes bytes at `offset`. The offset must be the session's (409 otherwise, nothing
   * changed); the retry of the last accepted chunk (its response was lost) is answered with the
   * session as it is. The chunk may not pass the declared size (413), the first chunk's head is
   * sniffed against the bucket (415). The offset moves only once the bytes are durable.
   */
  async chunk(
    ctx: ActionContext,
    id: string,
    offset: number | undefined,
    body: Readable,
    headers: IncomingHttpHeaders,
  ): Promise<UploadSession> {
    const row = await this.#load(ctx, id, "files:write");
    this.#open(row);
    const rawLength = headers["content-length"];
    if (offset === undefined) {
      // No offset and no bytes: a probe, answered with the session as it is.
      if (rawLength === undefined || rawLength === "0") return this.#toSession(row);
      throw new AppError(PlatformErrors.validation_failed, "A chunk names its offset.", {
        errors: [{ path: "query.offset", message: "required with bytes: the session's offset" }],
        headers: { connection: "close" },
      });
    }
    if (rawLength === undefined || !/^\d{1,15}$/.test(rawLength)) {
      throw new AppError(PlatformErrors.validation_failed, "A chunk needs a Content-Length.", {
        errors: [{ path: "headers.content-length", message: "required: the chunk's size in bytes" }],
        headers: { connection: "close" },
      });
    }
    const length = Number(rawLength);
    const received = Number(row.received);
    const size = Number(row.size);
    if (offset !== received) {
      if (row.last_chunk_start !== null && Number(row.last_chunk_start) === offset && offset + length === received) {
        return this.#toSession(row);
      }
      throw offsetMismatch(received);
    }
    if (length === 0) return this.#toSession(row);
    if (offset + length > size) {
      throw new AppError(
        StorageErrors.file_too_large,
        `The session was declared at ${size} bytes; this chunk would end at ${offset + length}.`,
        { headers: { connection: "close" } },
      );
    }
    const last = offset + length === size;
    if (!last && length < this.store.minChunkBytes) {
      throw new AppError(
        StorageErrors.chunk_too_small,
        `Chunks other than the last are at least ${this.store.minChunkBytes} bytes on this store.`,
        { headers: { connection: "close" } },
      );
    }
    if (offset === 0 && length < Math.min(SNIFF_BYTES, size)) {
      throw new AppError(
        StorageErrors.chunk_too_small,
        `The first chunk carries at least the first ${Math.min(SNIFF_BYTES, size)} bytes (the type is sniffed from them).`,
        { headers: { connection: "close" } },
      );
    }
    const parts = fromJson<Part[]>(row.parts);
    if (parts.length >= MAX_PARTS) {
      throw new AppError(StorageErrors.chunk_too_small, `A session holds at most ${MAX_PARTS} chunks.`);
    }
    const bucket = toBucket(await this.buckets.row(row.environment_id, row.bucket_id));
    await this.#claim(row, offset);

    const ingest = new Ingest(length, (type) => typeAllowed(type, bucket.allowedTypes), offset === 0);
    body.on("error", (err) => ingest.destroy(err));
    body.pipe(ingest);
    let etag: string | null;
    try {
      etag = await this.store.writeChunk(
        row.blob_key,
        row.handle as string,
        { offset, part: parts.length + 1, length },
        ingest,
      );
      if (ingest.bytes !== length) throw new AppError(StorageErrors.upload_incomplete, "The chunk ended early.");
    } catch (err) {
      body.unpipe(ingest);
      await this.#release(row.id);
      if (err instanceof TooLarge) {
        throw new AppError(StorageErrors.file_too_large, "The chunk is longer than its Content-Length.", {
          headers: { connection: "close" },
        });
      }
      if (err instanceof TypeRefused) {
        throw new AppError(
          StorageErrors.file_type_refused,
          `The bytes are ${err.type}; bucket ${bucket.name} accepts ${bucket.allowedTypes.join(", ")}.`,
          { headers: { connection: "close" } },
        );
      }
      if (err instanceof AppError) throw err;
      if (isClientAbort(err)) {
        throw new AppError(StorageErrors.upload_incomplete, "The chunk ended early: ask for the offset and resume.");
      }
      throw err;
    }
    const now = this.m.clock.now();
    const next: Row = {
      ...row,
      received: offset + length,
      last_chunk_start: offset,
      parts: toJson([...parts, { n: parts.length + 1, etag }]),
      content_type: offset === 0 ? (ingest.type ?? "application/octet-stream") : row.content_type,
      lock_until: null,
      updated_at: now,
    };
    const moved = await this.m.db.transaction((tx) =>
      this.#db
        .q(tx)
        .updateTable("storage_upload")
        .set({
          received: next.received,
          last_chunk_start: next.last_chunk_start,
          parts: next.parts,
          content_type: next.content_type,
          lock_until: null,
          updated_at: now,
        })
        .where("id", "=", row.id)
        .where("status", "=", "open")
        .where("received", "=", offset)
        .executeTakeFirst(),
    );
    if (Number(moved.numUpdatedRows) !== 1) throw busy();
    return this.#toSession(next);
  }

  /**
   * complete (finalize, for a direct session) makes the file: the bytes are assembled (S3: the
   * multipart upload is completed), measured and streamed once for the SHA-256 and the sniffed
   * type, then committed like a normal upload. Completing a completed session answers its file.
   */
  async complete(ctx: ActionContext, id: string): Promise<StoredFile> {
    const row = await this.#load(ctx, id, "files:write");
    if (row.status === "completed") return this.#completedFile(row);
    this.#open(row);
    if (row.kind === "resumable" && Number(row.received) !== Number(row.size)) {
      throw new AppError(
        StorageErrors.upload_unfinished,
        `The session holds ${row.received} of ${row.size} bytes: send the rest first.`,
        { headers: { "upload-offset": String(row.received) } },
      );
    }
    const bucket = toBucket(await this.buckets.row(row.environment_id, row.bucket_id));
    await this.#claim(row, Number(row.received));
    let verified: { sha256: string; type: string; size: number };
    try {
      verified = await this.#verify(row, bucket);
    } catch (err) {
      if (err instanceof Refusal) {
        await this.#drop(ctx, row, err.reason);
        throw err.error;
      }
      await this.#release(row.id);
      throw err;
    }
    try {
      return await this.m.db.write(ctx, async (tx) => {
        const q = this.#db.q(tx);
        const held = await q
          .selectFrom("storage_bucket")
          .select("id")
          .where("id", "=", row.bucket_id)
          .$call((qb) => this.m.db.forUpdate(qb))
          .executeTakeFirst();
        if (!held) throw new Refusal("bucket_deleted", bucketGone(row.bucket_id));
        const now = this.m.clock.now();
        const closed = await q
          .updateTable("storage_upload")
          .set({ status: "completed", received: verified.size, lock_until: null, updated_at: now })
          .where("id", "=", row.id)
          .where("status", "=", "open")
          .executeTakeFirst();
        if (Number(closed.numUpdatedRows) !== 1) throw busy();
        if (!(await this.usage.reserve(tx, row.environment_id, row.tenant_id, verified.size, 1))) {
          throw new Refusal("quota_exceeded", quotaExceeded());
        }
        const file: StorageFileTable = {
          id: row.file_id,
          environment_id: row.environment_id,
          tenant_id: row.tenant_id,
          bucket_id: row.bucket_id,
          blob_key: row.blob_key,
          status: "active",
          name: row.name,
          content_type: verified.type,
          declared_type: row.declared_type,
          size: verified.size,
          sha256: verified.sha256,
          metadata: toJson({}),
          ref: row.ref,
          created_by_type: row.created_by_type,
          created_by_id: row.created_by_id,
          deleted_at: null,
          deleted_reason: null,
          purge_at: null,
          created_at: now,
          updated_at: now,
        };
        await q.insertInto("storage_file").values(file).execute();
        const stored = toFile(file);
        await this.m.facts.record(tx, ctx, {
          type: "file.uploaded",
          environmentId: row.environment_id,
          tenantId: row.tenant_id,
          targets: [
            { type: "file", id: row.file_id },
            { type: "storage_upload", id: row.id },
          ],
          data: {
            bucketId: row.bucket_id,
            name: stored.name,
            contentType: stored.contentType,
            size: stored.size,
            sha256: stored.sha256,
            ref: stored.ref,
          },
        });
        return stored;
      });
    } catch (err) {
      if (err instanceof Refusal) {
        await this.#drop(ctx, row, err.reason);
        throw err.error;
      }
      await this.#release(row.id);
      throw err;
    }
  }

  /** cancel deletes an open session and what it wrote. */
  async cancel(ctx: ActionContext, id: string): Promise<{ id: string; deleted: true }> {
    const row = await this.#load(ctx, id, "files:write", true);
    if (row.status === "completed") {
      throw new AppError(StorageErrors.upload_completed, `Upload ${id} completed as file ${row.file_id}.`);
    }
    if (!(await this.#drop(ctx, row, "cancelled"))) throw busy();
    return { id, deleted: true };
  }

  /**
   * purgeExpired deletes open sessions past their expiry with their bytes (S3: the multipart upload
   * is aborted and any object at the key deleted), and forgets completed ones (the file stays).
   */
  async purgeExpired(scope: { environmentId: string; tenantId: string } | null = null): Promise<number> {
    let total = 0;
    let after = "";
    for (;;) {
      const now = this.m.clock.now();
      const rows = await this.#db
        .q()
        .selectFrom("storage_upload")
        .selectAll()
        .where("status", "=", "open")
        .where("id", ">", after)
        .$if(scope === null, (qb) => qb.where("expires_at", "<=", now))
        .$if(scope !== null, (qb) =>
          qb
            .where("environment_id", "=", scope?.environmentId as string)
            .where("tenant_id", "=", scope?.tenantId as string),
        )
        .orderBy("id")
        .limit(BATCH)
        .execute();
      for (const row of rows) {
        after = row.id;
        const ctx = systemContext(newId("request"), "storage");
        if (await this.#drop(ctx, row, scope === null ? "expired" : "tenant_purged", true)) total++;
      }
      if (rows.length < BATCH) break;
    }
    if (scope === null) {
      await this.#db
        .q()
        .deleteFrom("storage_upload")
        .where("status", "=", "completed")
        .where("expires_at", "<=", this.m.clock.now())
        .execute();
    }
    return total;
  }

  /** holdsHandle: is a store session (a multipart upload id, a session file) still an open session's? */
  async holdsHandle(handle: string): Promise<boolean> {
    const row = await this.#db
      .q()
      .selectFrom("storage_upload")
      .select("id")
      .where("handle", "=", handle)
      .where("status", "=", "open")
      .executeTakeFirst();
    return row !== undefined;
  }

  async #guard(
    ctx: ActionContext,
    bucketId: string,
    input: { tenantId?: string | undefined; size: number },
    bucketField?: string,
  ): Promise<{ bucket: Bucket; environmentId: string; tenantId: string | null }> {
    const callerEnvironment = ctx.principal?.environmentId;
    if (!callerEnvironment) throw new AppError(PlatformErrors.forbidden, "This route needs an environment credential.");
    const scope = () =>
      this.m.access.require(ctx, "files:write", { tenantId: input.tenantId ?? null, field: "body.tenantId" });
    // A bucket in the path is looked up first (another environment's answers 404, whoever asks); a
    // bucket named in the body is input, read once the caller's scope is settled.
    const early = bucketField ? await scope() : null;
    const bucket = toBucket(await this.buckets.row(callerEnvironment, bucketId, undefined, bucketField));
    const { environmentId, tenantId } = early ?? (await scope());
    const limit = Math.min(bucket.maxFileBytes, this.m.config.storage.maxFileBytes);
    if (input.size > limit) {
      throw new AppError(StorageErrors.file_too_large, `Files in bucket ${bucket.name} are at most ${limit} bytes.`);
    }
    // An early answer when the quota cannot take the file (completion decides, atomically).
    const usage = await this.usage.storedBytes(environmentId, tenantId);
    if (usage.maxFiles !== null && usage.files + 1 > usage.maxFiles) throw quotaExceeded();
    if (usage.maxBytes !== null && usage.bytes + input.size > usage.maxBytes) throw quotaExceeded();
    return { bucket, environmentId, tenantId };
  }

  #newRow(
    ctx: ActionContext,
    kind: UploadKind,
    bucket: Bucket,
    environmentId: string,
    tenantId: string | null,
    input: {
      size: number;
      sha256?: string | undefined;
      contentType?: string | undefined;
      name?: string | undefined;
      ref?: string | undefined;
    },
  ): Row {
    const now = this.m.clock.now();
    const fileId = newId("file", now);
    return {
      id: newId("upload", now),
      environment_id: environmentId,
      tenant_id: tenantId,
      bucket_id: bucket.id,
      kind,
      status: "open",
      file_id: fileId,
      blob_key: blobKey(environmentId, fileId),
      handle: null,
      size: input.size,
      received: 0,
      last_chunk_start: null,
      parts: toJson([]),
      sha256: input.sha256 ?? null,
      declared_type: input.contentType?.toLowerCase() ?? null,
      content_type: null,
      name: displayName(input.name),
      ref: input.ref ?? null,
      lock_until: null,
      created_by_type: ctx.principal?.actorType ?? "system",
      created_by_id: ctx.principal?.actorId ?? "baseplate",
      expires_at: now + this.m.config.storage.uploadSessionMs,
      created_at: now,
      updated_at: now,
    };
  }

  async #insert(ctx: ActionContext, row: Row): Promise<void> {
    await this.m.db.write(ctx, async (tx) => {
      await this.#db.q(tx).insertInto("storage_upload").values(row).execute();
      await this.m.facts.record(tx, ctx, {
        type: "storage_upload.created",
        environmentId: row.environment_id,
        tenantId: row.tenant_id,
        targets: [{ type: "storage_upload", id: row.id }],
        data: { bucketId: row.bucket_id, kind: row.kind, size: Number(row.size), expiresAt: iso(row.expires_at) },
      });
      return this.#toSession(row);
    });
  }

  /** #load finds a session of the caller's environment it may act on (another's answers 404). */
  async #load(ctx: ActionContext, id: string, permission: string, anyAge = false): Promise<Row> {
    const environmentId = ctx.principal?.environmentId;
    if (!environmentId) throw new AppError(PlatformErrors.forbidden, "This route needs an environment credential.");
    const row = await this.#db
      .q()
      .selectFrom("storage_upload")
      .selectAll()
      .where("environment_id", "=", environmentId)
      .where("id", "=", id)
      .executeTakeFirst();
    const missing = () => new AppError(StorageErrors.upload_not_found, `No upload session ${id}.`);
    if (!row) throw missing();
    await this.m.access.requireOn(ctx, permission, row.tenant_id, missing);
    if (!anyAge && row.status === "open" && Number(row.expires_at) <= this.m.clock.now()) {
      throw new AppError(StorageErrors.upload_expired, `Upload session ${id} expired; its bytes are deleted.`);
    }
    return row;
  }

  #open(row: Row): void {
    if (row.status === "completed") {
      throw new AppError(StorageErrors.upload_completed, `Upload ${row.id} completed as file ${row.file_id}.`);
    }
  }

  /**
   * #claim holds the session for one chunk or completion (a conditional update: one writer at a
   * time, at the expected offset, before the expiry). A holder that died frees it after the upload
   * timeout.
   */
  async #claim(row: Row, offset: number): Promise<void> {
    const now = this.m.clock.now();
    const claimed = await this.#db
      .q()
      .updateTable("storage_upload")
      .set({ lock_until: now + this.m.config.storage.uploadTimeoutMs })
      .where("id", "=", row.id)
      .where("status", "=", "open")
      .where("received", "=", offset)
      .where("expires_at", ">", now)
      .where((eb) => eb.or([eb("lock_until", "is", null), eb("lock_until", "<", now)]))
      .executeTakeFirst();
    if (Number(claimed.numUpdatedRows) === 1) return;
    const fresh = await this.#db
      .q()
      .selectFrom("storage_upload")
      .select(["received", "status"])
      .where("id", "=", row.id)
      .executeTakeFirst();
    if (!fresh) throw new AppError(StorageErrors.upload_not_found, `No upload session ${row.id}.`);
    if (fresh.status === "completed") {
      throw new AppError(StorageErrors.upload_completed, `Upload ${row.id} completed as file ${row.file_id}.`);
    }
    if (Number(fresh.received) !== offset) throw offsetMismatch(Number(fresh.received));
    throw busy();
  }

  async #release(id: string): Promise<void> {
    await this.#db
      .q()
      .updateTable("storage_upload")
      .set({ lock_until: null })
      .where("id", "=", id)
      .where("status", "=", "open")
      .execute()
      .catch((err) => this.m.logger.warn({ err, uploadId: id }, "could not release an upload session"));
  }

  /**
   * #verify assembles the bytes at the file's key and checks them: the size (the declared one), the
   * sniffed type (the bucket's policy now) and the SHA-256 (the declared one, when there is one),
   * streaming the blob once. A failed check is a Refusal: the caller deletes bytes and session.
   */
  async #verify(row: Row, bucket: Bucket): Promise<{ sha256: string; type: string; size: number }> {
    const size = Number(row.size);
    if (row.kind === "resumable") {
      await this.store.finishSession(row.blob_key, row.handle as string, fromJson<Part[]>(row.parts));
    }
    const found = await this.store.size(row.blob_key);
    if (found === null) {
      await this.#release(row.id);
      throw new AppError(
        StorageErrors.upload_unfinished,
        "Nothing was uploaded to the presigned URL yet: PUT the bytes, then finalize.",
      );
    }
    if (found !== size) {
      throw new Refusal(
        "size_mismatch",
        new AppError(StorageErrors.upload_size_mismatch, `The object holds ${found} bytes; ${size} were declared.`),
      );
    }
    const ingest = new Ingest(size, (type) => typeAllowed(type, bucket.allowedTypes));
    try {
      await pipeline(
        await this.store.get(row.blob_key),
        ingest,
        new Writable({
          highWaterMark: 1 << 20,
          write: (_chunk, _enc, done) => done(),
        }),
      );
    } catch (err) {
      if (err instanceof TypeRefused) {
        throw new Refusal(
          "type_refused",
          new AppError(
            StorageErrors.file_type_refused,
            `The bytes are ${err.type}; bucket ${bucket.name} accepts ${bucket.allowedTypes.join(", ")}.`,
          ),
        );
      }
      if (err instanceof TooLarge) {
        throw new Refusal(
          "size_mismatch",
          new AppError(StorageErrors.upload_size_mismatch, `The object holds more than the ${size} bytes declared.`),
        );
      }
      throw err;
    }
    if (ingest.bytes !== size) {
      throw new Refusal(
        "size_mismatch",
        new AppError(
          StorageErrors.upload_size_mismatch,
          `The object holds ${ingest.bytes} bytes; ${size} were declared.`,
        ),
      );
    }
    if (row.sha256 !== null && ingest.sha256 !== row.sha256) {
      throw new Refusal(
        "checksum_mismatch",
        new AppError(
          StorageErrors.upload_checksum_mismatch,
          `The bytes' SHA-256 is ${ingest.sha256}; ${row.sha256} was declared. The object was deleted.`,
        ),
      );
    }
    return { sha256: ingest.sha256, type: ingest.type ?? "application/octet-stream", size };
  }

  /**
   * #drop deletes an open session's bytes (the multipart upload or session file, and any object at
   * the file's key), then its row with `storage_upload.discarded`. Bytes first: a crash in between
   * leaves a row the purge job finds again. Returns false when another request holds the session.
   */
  async #drop(ctx: ActionContext, row: Row, reason: string, claim = false): Promise<boolean> {
    if (claim) {
      const now = this.m.clock.now();
      const claimed = await this.#db
        .q()
        .updateTable("storage_upload")
        .set({ lock_until: now + this.m.config.storage.uploadTimeoutMs })
        .where("id", "=", row.id)
        .where("status", "=", "open")
        .where((eb) => eb.or([eb("lock_until", "is", null), eb("lock_until", "<", now)]))
        .executeTakeFirst();
      if (Number(claimed.numUpdatedRows) !== 1) return false;
    }
    try {
      await this.store.delete(row.blob_key);
      if (row.handle !== null) await this.store.abortSession(row.blob_key, row.handle);
    } catch (err) {
      this.m.logger.warn({ err, uploadId: row.id }, "could not delete an upload session's bytes");
      await this.#release(row.id);
      return false;
    }
    return this.m.db.write(ctx, async (tx) => {
      const gone = await this.#db
        .q(tx)
        .deleteFrom("storage_upload")
        .where("id", "=", row.id)
        .where("status", "=", "open")
        .executeTakeFirst();
      if (Number(gone.numDeletedRows) !== 1) return false;
      await this.m.facts.record(tx, ctx, {
        type: "storage_upload.discarded",
        environmentId: row.environment_id,
        tenantId: row.tenant_id,
        targets: [{ type: "storage_upload", id: row.id }],
        data: { reason, received: Number(row.received) },
      });
      return true;
    });
  }

  async #completedFile(row: Row): Promise<StoredFile> {
    const file = await this.#db
      .q()
      .selectFrom("storage_file")
      .selectAll()
      .where("id", "=", row.file_id)
      .where("status", "in", ["active", "deleted"])
      .executeTakeFirst();
    if (!file) throw new AppError(StorageErrors.file_not_found, `File ${row.file_id} was purged.`);
    return toFile(file);
  }

  #toSession(row: Row): UploadSession {
    return {
      id: row.id,
      environmentId: row.environment_id,
      tenantId: row.tenant_id,
      bucketId: row.bucket_id,
      kind: row.kind,
      status: row.status,
      size: Number(row.size),
      offset: Number(row.received),
      minChunkBytes: row.kind === "resumable" ? this.store.minChunkBytes : Number(row.size),
      sha256: row.sha256,
      contentType: row.content_type,
      name: row.name,
      ref: row.ref,
      fileId: row.status === "completed" ? row.file_id : null,
      expiresAt: iso(row.expires_at),
      createdAt: iso(row.created_at),
      updatedAt: iso(row.updated_at),
    };
  }
}

/** Refusal: a completion the bytes (or the quota) refuse; the session and its bytes are deleted. */
class Refusal extends Error {
  constructor(
    readonly reason: string,
    readonly error: AppError,
  ) {
    super(error.message);
  }
}

function offsetMismatch(received: number): AppError {
  return new AppError(
    StorageErrors.upload_offset_mismatch,
    `The session's offset is ${received}: send the chunk that starts there.`,
    { headers: { "upload-offset": String(received), connection: "close" } },
  );
}

function busy(): AppError {
  return new AppError(StorageErrors.upload_busy, "Another request is writing to this session; retry after it.", {
    headers: { connection: "close" },
  });
}

function quotaExceeded(): AppError {
  return new AppError(StorageErrors.storage_quota_exceeded, "This upload would exceed the storage quota.");
}

function bucketGone(id: string): AppError {
  return new AppError(StorageErrors.bucket_not_found, `Bucket ${id} was deleted.`);
}

function isClientAbort(err: unknown): boolean {
  const code = (err as { code?: string })?.code;
  return code === "ECONNRESET" || code === "ERR_STREAM_PREMATURE_CLOSE" || (err as Error)?.message === "aborted";
}
