import type { IncomingHttpHeaders } from "node:http";
import { PassThrough, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import busboy from "busboy";
import type { Selectable } from "kysely";
import type { z } from "zod";
import { type Tx, type TypedDb, toJson } from "../../../platform/db/db.js";
import { AppError, PlatformErrors } from "../../../platform/errors.js";
import { pageById } from "../../../platform/http/pagination.js";
import type { HandlerInput } from "../../../platform/http/route.js";
import { iso, isoOrNull } from "../../../platform/http/schemas.js";
import type { ModuleContext } from "../../../platform/module.js";
import type { ActionContext } from "../../../platform/principal.js";
import { StorageErrors } from "../errors.js";
import { newId } from "../ids.js";
import { type BlobStore, blobKey } from "../internal/blob-store.js";
import { contentDisposition, displayName, etagMatches, parseRange } from "../internal/http.js";
import { Ingest, TooLarge, TypeRefused } from "../internal/ingest.js";
import { toBucket, toFile } from "../internal/rows.js";
import { inlineSafe, typeAllowed } from "../internal/sniff.js";
import type {
  DownloadQuery,
  ListFilesQuery,
  SignedQuery,
  SignedUrl,
  SignedUrlInput,
  StoredFile,
  UpdateFileInput,
  UploadQuery,
} from "../schemas.js";
import type { StorageFileTable, StorageTables } from "../tables.js";
import type { BucketsService } from "./buckets.js";
import { UrlSigner } from "./signing.js";
import type { UsageService } from "./usage.js";

type Hijack = HandlerInput<unknown, unknown, unknown>["hijack"];

/** Markup and script types: never rendered from this origin, served as opaque bytes. */
const ACTIVE_TYPES =
  /^(text\/html|image\/svg\+xml|application\/xml|text\/xml|application\/xhtml\+xml|text\/javascript|application\/javascript)$/;
const CSP_ATTACHMENT = "default-src 'none'; sandbox";
const CSP_INLINE = "default-src 'none'; img-src 'self' data:; media-src 'self'; style-src 'unsafe-inline'; sandbox";

/**
 * FilesService: uploads (streamed, limited, hashed and type-checked on the way), metadata, the trash,
 * downloads (Range, ETag, safe headers) and signed URLs. Every query is scoped to the caller's
 * environment, and a file of another tenant answers 404.
 */
export class FilesService {
  readonly #db: TypedDb<StorageTables>;
  readonly signer: UrlSigner;

  constructor(
    private readonly m: ModuleContext,
    readonly store: BlobStore,
    private readonly buckets: BucketsService,
    private readonly usage: UsageService,
  ) {
    this.#db = m.db.tables<StorageTables>();
    this.signer = new UrlSigner(m);
  }

  /**
   * upload streams the request body into the store under a generated key. Order: guard → a hidden
   * `uploading` row (so a crash leaves an orphan the purge job finds) → bytes (limit, SHA-256,
   * sniffed type) → one transaction that reserves quota (conditional update), makes the file
   * visible and records `file.uploaded`. Any failure deletes what was written.
   */
  async upload(
    ctx: ActionContext,
    bucketId: string,
    query: z.infer<typeof UploadQuery>,
    body: Readable,
    headers: IncomingHttpHeaders,
  ): Promise<StoredFile> {
    // The bucket first: another environment's bucket is simply absent (404), whoever asks.
    const callerEnvironment = ctx.principal?.environmentId;
    if (!callerEnvironment) throw new AppError(PlatformErrors.forbidden, "This route needs an environment credential.");
    const bucket = toBucket(await this.buckets.row(callerEnvironment, bucketId));
    const scope = await this.m.access.require(ctx, "files:write", {
      tenantId: query.tenantId ?? null,
      field: "query.tenantId",
    });
    const { environmentId, tenantId } = scope;
    let limit = Math.min(bucket.maxFileBytes, this.m.config.storage.maxFileBytes);
    const declaredLength = Number(headers["content-length"] ?? Number.NaN);
    const tooLarge = (max: number) =>
      new AppError(StorageErrors.file_too_large, `Files in bucket ${bucket.name} are at most ${max} bytes.`, {
        headers: { connection: "close" },
      });
    if (!headers["content-type"]?.startsWith("multipart/") && declaredLength > limit) throw tooLarge(limit);
    // An early answer when the quota is already used up (the transaction below decides).
    const usage = await this.usage.storedBytes(environmentId, tenantId);
    if (usage.maxFiles !== null && usage.files + 1 > usage.maxFiles) throw quotaExceeded("files");
    if (usage.maxBytes !== null) {
      const left = usage.maxBytes - usage.bytes;
      if (left < 0 || (declaredLength > left && !headers["content-type"]?.startsWith("multipart/"))) {
        throw quotaExceeded("bytes");
      }
      limit = Math.min(limit, left);
    }

    const source = await this.#source(body, headers);
    const now = this.m.clock.now();
    const id = newId("file", now);
    const key = blobKey(environmentId, id);
    const row: StorageFileTable = {
      id,
      environment_id: environmentId,
      tenant_id: tenantId,
      bucket_id: bucket.id,
      blob_key: key,
      status: "uploading",
      name: displayName(query.name ?? source.filename),
      content_type: null,
      declared_type: declaredType(source.type),
      size: 0,
      sha256: null,
      metadata: toJson({}),
      ref: query.ref ?? null,
      created_by_type: ctx.principal?.actorType ?? "system",
      created_by_id: ctx.principal?.actorId ?? "baseplate",
      deleted_at: null,
      deleted_reason: null,
      purge_at: null,
      created_at: now,
      updated_at: now,
    };
    await this.m.db.transaction((tx) => this.#db.q(tx).insertInto("storage_file").values(row).execute());

    const ingest = new Ingest(limit, (type) => typeAllowed(type, bucket.allowedTypes));
    // Piped by hand, not with pipeline(): a refusal must not destroy the request (its socket carries
    // the answer); the answer closes the connection instead, so the rest of the body is never read.
    source.stream.on("error", (err) => ingest.destroy(err));
    source.stream.pipe(ingest);
    try {
      await this.store.put(key, ingest);
    } catch (err) {
      source.stream.unpipe(ingest);
      await this.#discard(row);
      if (err instanceof TooLarge) {
        if (usage.maxBytes !== null && err.limit < Math.min(bucket.maxFileBytes, this.m.config.storage.maxFileBytes)) {
          throw quotaExceeded("bytes");
        }
        throw tooLarge(err.limit);
      }
      if (err instanceof TypeRefused) {
        throw new AppError(
          StorageErrors.file_type_refused,
          `The bytes are ${err.type}; bucket ${bucket.name} accepts ${bucket.allowedTypes.join(", ")}.`,
          { headers: { connection: "close" } },
        );
      }
      if (isClientAbort(err)) throw new AppError(StorageErrors.upload_incomplete, "The request body ended early.");
      throw err;
    }
    try {
      return await this.m.db.write(ctx, async (tx) => {
        const q = this.#db.q(tx);
        // The bucket must still exist (its deletion locks it too).
        const held = await q
          .selectFrom("storage_bucket")
          .select("id")
          .where("id", "=", bucket.id)
          .$call((qb) => this.m.db.forUpdate(qb))
          .executeTakeFirst();
        if (!held) throw new AppError(StorageErrors.bucket_not_found, `Bucket ${bucket.id} was deleted.`);
        if (!(await this.usage.reserve(tx, environmentId, tenantId, ingest.bytes, 1))) {
          throw quotaExceeded("bytes or files");
        }
        const done = this.m.clock.now();
        const visible = await q
          .updateTable("storage_file")
          .set({
            status: "active",
            size: ingest.bytes,
            sha256: ingest.sha256,
            content_type: ingest.type ?? "application/octet-stream",
            updated_at: done,
          })
          .where("id", "=", id)
          .where("status", "=", "uploading")
          .executeTakeFirst();
        if (Number(visible.numUpdatedRows) !== 1) {
          throw new AppError(StorageErrors.upload_incomplete, "The upload took too long and was collected.");
        }
        const file = toFile({
          ...row,
          status: "active",
          size: ingest.bytes,
          sha256: ingest.sha256,
          content_type: ingest.type ?? "application/octet-stream",
          updated_at: done,
        });
        await this.m.facts.record(tx, ctx, {
          type: "file.uploaded",
          environmentId,
          tenantId,
          targets: [{ type: "file", id }],
          data: {
            bucketId: bucket.id,
            name: file.name,
            contentType: file.contentType,
            size: file.size,
            sha256: file.sha256,
            ref: file.ref,
          },
        });
        return file;
      });
    } catch (err) {
      await this.#discard(row);
      throw err;
    }
  }

  /** #discard deletes what a failed upload wrote: the blob first, then its hidden row. */
  async #discard(row: StorageFileTable): Promise<void> {
    try {
      await this.store.delete(row.blob_key);
      await this.#db
        .q()
        .deleteFrom("storage_file")
        .where("id", "=", row.id)
        .where("status", "=", "uploading")
        .execute();
    } catch (err) {
      // Left for the purge job, which collects `uploading` rows older than the upload timeout.
      this.m.logger.warn({ err, fileId: row.id }, "could not discard a failed upload");
    }
  }

  /**
   * #source is the bytes of the file: the raw body, or the first file part of a multipart body
   * (its filename and type are taken as the defaults of name and declared type).
   */
  async #source(
    body: Readable,
    headers: IncomingHttpHeaders,
  ): Promise<{ stream: Readable; filename: string | null; type: string | null }> {
    const contentType = headers["content-type"] ?? null;
    if (!contentType?.toLowerCase().startsWith("multipart/form-data")) {
      return { stream: body, filename: null, type: contentType };
    }
    let parser: busboy.Busboy;
    try {
      parser = busboy({ headers, limits: { files: 1, fields: 20, fieldSize: 4096, parts: 30, headerPairs: 50 } });
    } catch {
      throw new AppError(PlatformErrors.bad_request, "The multipart body has no valid boundary.");
    }
    return new Promise((resolve, reject) => {
      const result = {
        stream: new PassThrough() as Readable,
        filename: null as string | null,
        type: null as string | null,
      };
      let found = false;
      parser.on("file", (_field, stream, info) => {
        if (found) {
          stream.resume();
          return;
        }
        found = true;
        result.stream = stream;
        result.filename = info.filename ?? null;
        result.type = info.mimeType ?? null;
        resolve(result);
      });
      parser.on("error", (err) => {
        if (!found)
          reject(
            new AppError(PlatformErrors.bad_request, `The multipart body is malformed: ${(err as Error).message}`),
          );
        else result.stream.destroy(err as Error);
      });
      parser.on("close", () => {
        if (!found)
          reject(new AppError(PlatformErrors.validation_failed, "body: the multipart body holds no file part"));
      });
      body.on("error", (err) => {
        if (!found) reject(new AppError(StorageErrors.upload_incomplete, err.message));
        else result.stream.destroy(err);
      });
      body.pipe(parser);
    });
  }

  async listFiles(ctx: ActionContext, query: z.infer<typeof ListFilesQuery>) {
    const { environmentId, tenantId, environmentOnly } = await this.m.access.require(ctx, "files:read", {
      tenantId: query.tenantId ?? null,
      field: "query.tenantId",
    });
    const rows = this.#db
      .q()
      .selectFrom("storage_file")
      .selectAll()
      .where("environment_id", "=", environmentId)
      .where("status", "=", query.status)
      .$if(tenantId !== null, (qb) => qb.where("tenant_id", "=", tenantId as string))
      .$if(environmentOnly === true, (qb) => qb.where("tenant_id", "is", null))
      .$if(query.bucketId !== undefined, (qb) => qb.where("bucket_id", "=", query.bucketId as string))
      .$if(query.ref !== undefined, (qb) => qb.where("ref", "=", query.ref as string));
    return pageById(rows, query, toFile, { descending: true });
  }

  async getFile(ctx: ActionContext, id: string): Promise<StoredFile> {
    return toFile(await this.authorized(ctx, "files:read", id));
  }

  async updateFile(ctx: ActionContext, id: string, input: z.infer<typeof UpdateFileInput>): Promise<StoredFile> {
    await this.authorized(ctx, "files:write", id);
    return this.m.db.write(ctx, async (tx) => {
      const row = await this.#row(ctx, id, tx, ["active"]);
      const before = toFile(row);
      const next: StorageFileTable = {
        ...row,
        name: input.name === undefined ? row.name : displayName(input.name),
        ref: input.ref === undefined ? row.ref : input.ref,
        metadata: toJson(input.metadata ?? before.metadata),
        updated_at: this.m.clock.now(),
      };
      await this.#db
        .q(tx)
        .updateTable("storage_file")
        .set({ name: next.name, ref: next.ref, metadata: next.metadata, updated_at: next.updated_at })
        .where("id", "=", id)
        .execute();
      const after = toFile(next);
      await this.m.facts.record(tx, ctx, {
        type: "file.updated",
        environmentId: row.environment_id,
        tenantId: row.tenant_id,
        targets: [{ type: "file", id }],
        changes: {
          before: { name: before.name, ref: before.ref, metadata: before.metadata },
          after: { name: after.name, ref: after.ref, metadata: after.metadata },
        },
      });
      return after;
    });
  }

  /** deleteFile moves a file to the trash: hidden from reads, purged after the trash period. */
  async deleteFile(ctx: ActionContext, id: string): Promise<StoredFile> {
    await this.authorized(ctx, "files:delete", id);
    return this.m.db.write(ctx, async (tx) => {
      const row = await this.#row(ctx, id, tx, ["active"]);
      const now = this.m.clock.now();
      const next = {
        ...row,
        status: "deleted" as const,
        deleted_at: now,
        purge_at: now + this.m.config.storage.trashMs,
      };
      await this.#db
        .q(tx)
        .updateTable("storage_file")
        .set({
          status: "deleted",
          deleted_at: now,
          deleted_reason: "request",
          purge_at: next.purge_at,
          updated_at: now,
        })
        .where("id", "=", id)
        .where("status", "=", "active")
        .execute();
      await this.m.facts.record(tx, ctx, {
        type: "file.deleted",
        environmentId: row.environment_id,
        tenantId: row.tenant_id,
        targets: [{ type: "file", id }],
        data: { reason: "request", purgeAt: isoOrNull(next.purge_at) },
      });
      return toFile({ ...next, updated_at: now });
    });
  }

  /** restoreFile takes a file out of the trash (before it is purged); an active file is answered as it is. */
  async restoreFile(ctx: ActionContext, id: string): Promise<StoredFile> {
    await this.authorized(ctx, "files:delete", id, ["active", "deleted"]);
    return this.m.db.write(ctx, async (tx) => {
      const row = await this.#row(ctx, id, tx, ["active", "deleted"]);
      // Restoring a file that is not in the trash changes nothing (idempotent, no fact).
      if (row.status !== "deleted") return toFile(row);
      const now = this.m.clock.now();
      const restored = await this.#db
        .q(tx)
        .updateTable("storage_file")
        .set({ status: "active", deleted_at: null, deleted_reason: null, purge_at: null, updated_at: now })
        .where("id", "=", id)
        .where("status", "=", "deleted")
        .executeTakeFirst();
      if (Number(restored.numUpdatedRows) !== 1) throw notFound(id);
      await this.m.facts.record(tx, ctx, {
        type: "file.restored",
        environmentId: row.environment_id,
        tenantId: row.tenant_id,
        targets: [{ type: "file", id }],
      });
      return toFile({ ...row, status: "active", deleted_at: null, purge_at: null, updated_at: now });
    });
  }

  /** download streams a file to its reader (Range, ETag / If-None-Match, safe headers). */
  async download(
    ctx: ActionContext,
    id: string,
    query: z.infer<typeof DownloadQuery>,
    headers: IncomingHttpHeaders,
    hijack: Hijack,
  ): Promise<void> {
    const row = await this.authorized(ctx, "files:read", id);
    await this.send(row, query.disposition, headers, hijack, "private, no-cache");
  }

  /** signedUrl issues a URL that downloads the file without a credential until it expires. */
  async signedUrl(
    ctx: ActionContext,
    id: string,
    input: z.infer<typeof SignedUrlInput>,
  ): Promise<z.infer<typeof SignedUrl>> {
    await this.authorized(ctx, "files:read", id);
    return this.m.db.write(ctx, async (tx) => {
      const row = await this.#row(ctx, id, tx, ["active"]);
      const key = await this.signer.keyFor(row.environment_id, tx);
      const expiresAt = this.m.clock.now() + input.expiresInSeconds * 1000;
      const exp = Math.ceil(expiresAt / 1000);
      const params = {
        v: UrlSigner.version(row.sha256 ?? ""),
        exp,
        d: input.disposition === "inline" ? "i" : "a",
      } as const;
      const sig = this.signer.sign(key, id, params);
      await this.m.facts.record(tx, ctx, {
        type: "file.shared",
        environmentId: row.environment_id,
        tenantId: row.tenant_id,
        targets: [{ type: "file", id }],
        data: { expiresAt: iso(exp * 1000), disposition: input.disposition },
      });
      const search = new URLSearchParams({ v: params.v, exp: String(exp), d: params.d, sig });
      return { url: `/v1/storage/signed/${id}?${search}`, expiresAt: iso(exp * 1000) };
    });
  }

  /** downloadSigned serves a signed URL: the MAC first (403), then the expiry (410). */
  async downloadSigned(
    id: string,
    query: z.infer<typeof SignedQuery>,
    headers: IncomingHttpHeaders,
    hijack: Hijack,
  ): Promise<void> {
    const row = await this.#db
      .q()
      .selectFrom("storage_file")
      .selectAll()
      .where("id", "=", id)
      .where("status", "=", "active")
      .executeTakeFirst();
    const exp = /^\d{1,15}$/.test(query.exp) ? Number(query.exp) : -1;
    const params = { v: query.v, exp, d: query.d };
    if (!row || exp < 0 || !(await this.signer.verify(row.environment_id, id, params, query.sig))) {
      throw new AppError(StorageErrors.signature_invalid, "The signature does not match this file.");
    }
    if (query.v !== UrlSigner.version(row.sha256 ?? "")) {
      throw new AppError(StorageErrors.signature_invalid, "The URL was signed for another version of the file.");
    }
    const now = this.m.clock.now();
    if (exp * 1000 <= now) throw new AppError(StorageErrors.signature_expired, "The signed URL has expired.");
    const maxAge = Math.max(0, Math.floor(exp - now / 1000));
    await this.send(row, query.d === "i" ? "inline" : "attachment", headers, hijack, `private, max-age=${maxAge}`);
  }

  /** downloadPublic serves a file of a public bucket to anyone (404 for anything else). */
  async downloadPublic(id: string, headers: IncomingHttpHeaders, hijack: Hijack): Promise<void> {
    const row = await this.#db
      .q()
      .selectFrom("storage_file")
      .innerJoin("storage_bucket", "storage_bucket.id", "storage_file.bucket_id")
      .selectAll("storage_file")
      .select("storage_bucket.public as bucket_public")
      .where("storage_file.id", "=", id)
      .where("storage_file.status", "=", "active")
      .executeTakeFirst();
    if (!row?.bucket_public) throw notFound(id);
    const { bucket_public: _, ...file } = row;
    await this.send(file, "attachment", headers, hijack, "public, max-age=300");
  }

  /**
   * send answers a download: 304 when `If-None-Match` names the ETag (the SHA-256), 206 for one
   * satisfiable range (416 otherwise), 200 for the rest. Markup is never rendered: it is sent as
   * opaque bytes in an attachment, and every answer carries `nosniff` and a sandboxing CSP.
   */
  async send(
    row: Selectable<StorageFileTable>,
    disposition: "attachment" | "inline",
    headers: IncomingHttpHeaders,
    hijack: Hijack,
    cacheControl: string,
  ): Promise<void> {
    const size = Number(row.size);
    const etag = `"${row.sha256}"`;
    const type = row.content_type ?? "application/octet-stream";
    const inline = disposition === "inline" && inlineSafe(type);
    const common: Record<string, string> = {
      etag,
      "accept-ranges": "bytes",
      "cache-control": cacheControl,
      "x-content-type-options": "nosniff",
      "content-security-policy": inline ? CSP_INLINE : CSP_ATTACHMENT,
      "cross-origin-resource-policy": "same-origin",
      "content-disposition": contentDisposition(inline ? "inline" : "attachment", row.name),
    };
    if (etagMatches(headers["if-none-match"], etag)) {
      const { res, requestId } = hijack();
      res.writeHead(304, { ...common, "x-request-id": requestId });
      res.end();
      return;
    }
    const ifRange = headers["if-range"] as string | undefined;
    let range = parseRange(typeof headers.range === "string" ? headers.range : undefined, size);
    if (ifRange !== undefined && !etagMatches(ifRange, etag)) range = { kind: "full" };
    if (range.kind === "unsatisfiable") {
      throw new AppError(StorageErrors.range_not_satisfiable, `The file has ${size} bytes.`, {
        headers: { "content-range": `bytes */${size}` },
      });
    }
    const partial = range.kind === "partial" ? range : null;
    const stream = size === 0 ? null : await this.store.get(row.blob_key, partial ?? undefined);
    const { res, requestId } = hijack();
    res.writeHead(partial ? 206 : 200, {
      ...common,
      "x-request-id": requestId,
      "content-type": ACTIVE_TYPES.test(type) ? "application/octet-stream" : type,
      "content-length": String(partial ? partial.end - partial.start + 1 : size),
      ...(partial ? { "content-range": `bytes ${partial.start}-${partial.end}/${size}` } : {}),
    });
    if (!stream) {
      res.end();
      return;
    }
    pipeline(stream, res).catch((err: Error) => {
      this.m.logger.warn({ err, fileId: row.id }, "download ended early");
      res.destroy();
    });
  }

  /** authorized loads a visible file of the caller's environment and checks `permission` (404 otherwise). */
  async authorized(
    ctx: ActionContext,
    permission: string,
    id: string,
    statuses: Array<"active" | "deleted"> = ["active"],
  ): Promise<Selectable<StorageFileTable>> {
    const row = await this.#row(ctx, id, undefined, statuses);
    await this.m.access.requireOn(ctx, permission, row.tenant_id, () => notFound(id));
    return row;
  }

  async #row(ctx: ActionContext, id: string, tx: Tx | undefined, statuses: Array<"active" | "deleted">) {
    const environmentId = ctx.principal?.environmentId;
    if (!environmentId) throw new AppError(PlatformErrors.forbidden, "This route needs an environment credential.");
    const row = await this.#db
      .q(tx)
      .selectFrom("storage_file")
      .selectAll()
      .where("environment_id", "=", environmentId)
      .where("id", "=", id)
      .where("status", "in", statuses)
      .$if(tx !== undefined, (qb) => qb.$call((q) => this.m.db.forUpdate(q)))
      .executeTakeFirst();
    if (!row) throw notFound(id);
    return row;
  }
}

function notFound(id: string): AppError {
  return new AppError(StorageErrors.file_not_found, `No file ${id}.`);
}

function quotaExceeded(what: string): AppError {
  return new AppError(StorageErrors.storage_quota_exceeded, `This upload would exceed the storage quota (${what}).`, {
    headers: { connection: "close" },
  });
}

function declaredType(raw: string | null): string | null {
  if (!raw) return null;
  const type = raw.split(";")[0]?.trim().toLowerCase() ?? "";
  return /^[a-z0-9][a-z0-9.+-]*\/[a-z0-9][a-z0-9.+-]*$/.test(type) ? type : null;
}

function isClientAbort(err: unknown): boolean {
  const code = (err as { code?: string })?.code;
  return code === "ECONNRESET" || code === "ERR_STREAM_PREMATURE_CLOSE" || (err as Error)?.message === "aborted";
}
