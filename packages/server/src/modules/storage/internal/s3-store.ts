import { pipeline, type Readable, Transform } from "node:stream";
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { BlobNotFound, type BlobStore, checkKey } from "./blob-store.js";

export interface S3StoreOptions {
  endpoint: string | null;
  region: string;
  bucket: string;
  /** prefix is prepended to every key (`baseplate/`): one bucket can serve several planes. */
  prefix: string;
  accessKeyId: string | null;
  secretAccessKey: string | null;
  forcePathStyle: boolean;
  /** partSize of multipart uploads (bytes held in memory per part; at most two parts at once). */
  partSize?: number;
}

/**
 * S3BlobStore keeps blobs in an S3-compatible bucket. Uploads stream in parts (a body of unknown
 * length never sits in memory whole; a failed body aborts the multipart upload). Checksums are
 * computed only when an operation requires them (`WHEN_REQUIRED`): S3-compatible servers do not
 * all accept the SDK's default trailing checksums, and the module keeps its own SHA-256.
 */
export class S3BlobStore implements BlobStore {
  readonly kind = "s3" as const;
  readonly client: S3Client;
  readonly #o: S3StoreOptions;

  constructor(options: S3StoreOptions) {
    this.#o = options;
    this.client = new S3Client({
      region: options.region,
      forcePathStyle: options.forcePathStyle,
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
      ...(options.accessKeyId && options.secretAccessKey
        ? { credentials: { accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey } }
        : {}),
    });
  }

  get bucket(): string {
    return this.#o.bucket;
  }

  /** objectKey is the S3 key of a blob key. */
  objectKey(key: string): string {
    return `${this.#o.prefix}${checkKey(key)}`;
  }

  async put(key: string, body: Readable): Promise<void> {
    // The body's own error (a size limit, a refused type) is the one reported, not the abort's.
    let bodyError: unknown = null;
    body.once("error", (err) => {
      bodyError ??= err;
    });
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.#o.bucket, Key: this.objectKey(key), Body: body },
      partSize: this.#o.partSize ?? 8 * 1024 * 1024,
      queueSize: 2,
      leavePartsOnError: false,
    });
    try {
      await upload.done();
    } catch (err) {
      throw bodyError ?? err;
    }
    if (bodyError) {
      await this.delete(key);
      throw bodyError;
    }
  }

  async get(key: string, range?: { start: number; end: number }): Promise<Readable> {
    try {
      const res = await this.client.send(
        new GetObjectCommand({
          Bucket: this.#o.bucket,
          Key: this.objectKey(key),
          ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}),
        }),
      );
      const body = res.Body as Readable;
      if (!range) return body;
      // Some S3-compatible servers answer a range with more than asked (s3rver: the whole object
      // for `bytes=0-0`): cut what came to the range asked.
      const got = /^bytes (\d+)-(\d+)\//.exec(res.ContentRange ?? "");
      const from = got ? Number(got[1]) : 0;
      const to = got ? Number(got[2]) : Number.POSITIVE_INFINITY;
      if (from === range.start && to === range.end) return body;
      return pipeline(body, slice(range.start - from, range.end - from), () => {});
    } catch (err) {
      if (isNotFound(err)) throw new BlobNotFound(key);
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.#o.bucket, Key: this.objectKey(key) }));
  }

  async exists(key: string): Promise<boolean> {
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.#o.bucket, Key: this.objectKey(key) }));
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  async sweep(olderThan: number, keep?: (handle: string) => Promise<boolean>): Promise<number> {
    try {
      return await this.#sweep(olderThan, keep);
    } catch (err) {
      // Servers without ListMultipartUploads (s3rver): failed uploads are aborted by the uploader itself.
      if ((err as { name?: string }).name === "NotImplemented") return 0;
      throw err;
    }
  }

  async #sweep(olderThan: number, keep?: (handle: string) => Promise<boolean>): Promise<number> {
    let removed = 0;
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    for (;;) {
      const page = await this.client.send(
        new ListMultipartUploadsCommand({
          Bucket: this.#o.bucket,
          Prefix: this.#o.prefix,
          ...(keyMarker ? { KeyMarker: keyMarker } : {}),
          ...(uploadIdMarker ? { UploadIdMarker: uploadIdMarker } : {}),
        }),
      );
      for (const u of page.Uploads ?? []) {
        if (u.Key && u.UploadId && u.Initiated && u.Initiated.getTime() < olderThan) {
          // An open upload session's multipart upload lives as long as its session.
          if (keep && (await keep(u.UploadId))) continue;
          await this.client.send(
            new AbortMultipartUploadCommand({ Bucket: this.#o.bucket, Key: u.Key, UploadId: u.UploadId }),
          );
          removed++;
        }
      }
      if (!page.IsTruncated) return removed;
      keyMarker = page.NextKeyMarker;
      uploadIdMarker = page.NextUploadIdMarker;
    }
  }

  async size(key: string): Promise<number | null> {
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.#o.bucket, Key: this.objectKey(key) }));
      return Number(head.ContentLength ?? 0);
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  /** minChunkBytes: S3 refuses parts under 5 MiB, the last one excepted. */
  readonly minChunkBytes = 5 * 1024 * 1024;

  async beginSession(key: string, _sessionId?: string): Promise<string> {
    const res = await this.client.send(
      new CreateMultipartUploadCommand({ Bucket: this.#o.bucket, Key: this.objectKey(key) }),
    );
    if (!res.UploadId) throw new Error("The S3 server answered no multipart upload id");
    return res.UploadId;
  }

  /** writeChunk uploads one part (number `part`); a part sent again replaces the earlier attempt. */
  async writeChunk(
    key: string,
    handle: string,
    chunk: { offset: number; part: number; length: number },
    body: Readable,
  ): Promise<string | null> {
    let bodyError: unknown = null;
    // A body that fails (a client gone mid-chunk, a refused type) cancels the part's request at once.
    const abort = new AbortController();
    body.once("error", (err) => {
      bodyError ??= err;
      abort.abort(err);
    });
    try {
      const res = await this.client.send(
        new UploadPartCommand({
          Bucket: this.#o.bucket,
          Key: this.objectKey(key),
          UploadId: handle,
          PartNumber: chunk.part,
          ContentLength: chunk.length,
          Body: body,
        }),
        { abortSignal: abort.signal },
      );
      if (bodyError) throw bodyError;
      return res.ETag ?? null;
    } catch (err) {
      throw bodyError ?? err;
    }
  }

  async finishSession(key: string, handle: string, parts: ReadonlyArray<{ n: number; etag: string | null }>) {
    try {
      await this.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.#o.bucket,
          Key: this.objectKey(key),
          UploadId: handle,
          MultipartUpload: { Parts: parts.map((p) => ({ PartNumber: p.n, ETag: p.etag ?? undefined })) },
        }),
      );
    } catch (err) {
      // Completed before (a retried completion): the object is there and the upload id is spent.
      if ((err as { name?: string }).name === "NoSuchUpload" && (await this.exists(key))) return;
      throw err;
    }
  }

  async abortSession(key: string, handle: string): Promise<void> {
    try {
      await this.client.send(
        new AbortMultipartUploadCommand({ Bucket: this.#o.bucket, Key: this.objectKey(key), UploadId: handle }),
      );
    } catch (err) {
      const name = (err as { name?: string }).name;
      if (name === "NoSuchUpload" || isNotFound(err)) return;
      // Servers without AbortMultipartUpload (s3rver): the parts stay until the bucket's lifecycle
      // rule for incomplete multipart uploads removes them; the session itself is gone.
      if (name === "NotImplemented" || name === "MethodNotAllowed") return;
      throw err;
    }
  }

  /**
   * presignPut signs a PUT of exactly `size` bytes of `contentType` to `key` (both headers are
   * signed: the client must send them as they are). What arrives is checked at finalize anyway.
   */
  async presignPut(key: string, o: { size: number; contentType: string; expiresInSeconds: number }) {
    const command = new PutObjectCommand({
      Bucket: this.#o.bucket,
      Key: this.objectKey(key),
      ContentLength: o.size,
      ContentType: o.contentType,
    });
    const url = await getSignedUrl(this.client, command, {
      expiresIn: o.expiresInSeconds,
      signableHeaders: new Set(["content-type", "content-length"]),
    });
    return { url, headers: { "content-type": o.contentType, "content-length": String(o.size) } };
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}

/** slice passes on bytes start..end (inclusive) of a stream and drops the rest. */
function slice(start: number, end: number): Transform {
  let offset = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      const from = Math.max(0, start - offset);
      const to = Math.min(chunk.length, end + 1 - offset);
      offset += chunk.length;
      done(null, to > from ? chunk.subarray(from, to) : undefined);
    },
  });
}

function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === "NoSuchKey" || e?.name === "NotFound" || e?.$metadata?.httpStatusCode === 404;
}
