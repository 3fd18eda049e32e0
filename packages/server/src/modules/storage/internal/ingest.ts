import { createHash } from "node:crypto";
import { Transform, type TransformCallback } from "node:stream";
import { SNIFF_BYTES, sniffType } from "./sniff.js";

/** TooLarge: the body passed its limit while streaming (nothing past the limit was kept). */
export class TooLarge extends Error {
  constructor(readonly limit: number) {
    super(`The body exceeds ${limit} bytes`);
    this.name = "TooLarge";
  }
}

/** TypeRefused: the sniffed type is not one the bucket allows (checked before any byte is stored). */
export class TypeRefused extends Error {
  constructor(readonly type: string) {
    super(`Type ${type} is not allowed`);
    this.name = "TypeRefused";
  }
}

/**
 * Ingest is the stream every upload passes through on its way to the store: it counts bytes and
 * fails as soon as the count passes `limit` (the body is never buffered to measure it), computes
 * the SHA-256, and holds back the first SNIFF_BYTES until the type is sniffed and `accept`ed, so
 * a refused type writes nothing.
 */
export class Ingest extends Transform {
  /** bytes counted so far (not `size`: the S3 uploader would read it as the total length). */
  bytes = 0;
  type: string | null = null;
  readonly #hash = createHash("sha256");
  #head: Buffer[] | null = [];
  #headBytes = 0;

  constructor(
    readonly limit: number,
    readonly accept: (type: string) => boolean,
    /** sniff: false for bytes that are not the start of a file (a later chunk of a session). */
    sniff = true,
  ) {
    super({ highWaterMark: 1 << 20 });
    if (!sniff) this.#head = null;
  }

  get sha256(): string {
    return this.#digest ?? "";
  }
  #digest: string | null = null;

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.limit) {
      done(new TooLarge(this.limit));
      return;
    }
    this.#hash.update(chunk);
    if (this.#head === null) {
      done(null, chunk);
      return;
    }
    this.#head.push(chunk);
    this.#headBytes += chunk.length;
    if (this.#headBytes < SNIFF_BYTES) {
      done();
      return;
    }
    this.#release(done);
  }

  override _flush(done: TransformCallback): void {
    const finish = (err?: Error | null) => {
      if (err) {
        done(err);
        return;
      }
      this.#digest = this.#hash.digest("hex");
      done();
    };
    if (this.#head !== null) this.#release(finish);
    else finish();
  }

  #release(done: TransformCallback): void {
    const head = Buffer.concat(this.#head ?? []);
    this.#head = null;
    sniffType(head.subarray(0, SNIFF_BYTES)).then(
      (type) => {
        this.type = type;
        if (!this.accept(type)) {
          done(new TypeRefused(type));
          return;
        }
        if (head.length > 0) this.push(head);
        done();
      },
      (err: Error) => done(err),
    );
  }
}
