/**
 * raw-storage.ts: the storage scenario's helper process.
 *
 *   node --import tsx bench/processes/raw-storage.ts --mode s3rver --dir D
 *     serves an S3-compatible server (s3rver) on a free port; prints {"ready":true,"endpoint","bucket"}.
 *   node --import tsx bench/processes/raw-storage.ts --mode copy|s3 --file F --dir D [--endpoint E --bucket B] --duration S --warmup S
 *     the baselines, with no plane: `copy` copies F to a new file and fsyncs it (upload), then copies
 *     that file to another one (download); `s3` puts F with the S3 client (streamed multipart, the
 *     driver's part size and queue) and gets it back, consumed. Repeats each for `duration` seconds
 *     and prints {"result":{"upCount","upS","upCpuMs","downCount","downS","downCpuMs"}}.
 */
import { createReadStream, createWriteStream, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { parseArgs } from "node:util";
import { GetObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import S3rver from "s3rver";
import { answer, stopOnSignal } from "../lib/lifecycle.js";

const { values } = parseArgs({
  options: {
    mode: { type: "string", default: "copy" },
    file: { type: "string", default: "" },
    dir: { type: "string", default: "" },
    endpoint: { type: "string", default: "" },
    bucket: { type: "string", default: "bench" },
    duration: { type: "string", default: "5" },
    warmup: { type: "string", default: "1" },
  },
});
const mode = values.mode as string;
const durationS = Number(values.duration);
const warmupS = Number(values.warmup);

if (mode === "s3rver") {
  const directory = mkdtempSync(join(values.dir as string, "s3rver-"));
  const server = new S3rver({
    address: "127.0.0.1",
    port: 0,
    silent: true,
    directory,
    configureBuckets: [{ name: values.bucket as string }],
  });
  const { port } = await server.run();
  stopOnSignal(async () => {
    await server.close();
    rmSync(directory, { recursive: true, force: true });
  });
  await answer({ ready: true, endpoint: `http://127.0.0.1:${port}`, bucket: values.bucket });
} else {
  stopOnSignal(async () => undefined);
  const file = values.file as string;
  const work = join(values.dir as string, `raw-${process.pid}`);
  mkdirSync(work, { recursive: true });
  const s3 =
    mode === "s3"
      ? new S3Client({
          endpoint: values.endpoint as string,
          region: "us-east-1",
          forcePathStyle: true,
          credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" },
          requestChecksumCalculation: "WHEN_REQUIRED",
          responseChecksumValidation: "WHEN_REQUIRED",
        })
      : null;
  let n = 0;
  const sink = () =>
    new Writable({
      highWaterMark: 1 << 20,
      write(_chunk, _enc, done) {
        done();
      },
    });
  const up = async (): Promise<string> => {
    const name = `blob-${n++}`;
    if (s3) {
      await new Upload({
        client: s3,
        params: {
          Bucket: values.bucket as string,
          Key: name,
          Body: createReadStream(file, { highWaterMark: 1 << 20 }),
        },
        partSize: 8 * 1024 * 1024,
        queueSize: 2,
      }).done();
    } else {
      await pipeline(
        createReadStream(file, { highWaterMark: 1 << 20 }),
        createWriteStream(join(work, name), { flush: true, highWaterMark: 1 << 20 }),
      );
    }
    return name;
  };
  const down = async (name: string): Promise<void> => {
    if (s3) {
      const res = await s3.send(new GetObjectCommand({ Bucket: values.bucket as string, Key: name }));
      await pipeline(res.Body as NodeJS.ReadableStream, sink());
    } else {
      await pipeline(
        createReadStream(join(work, name), { highWaterMark: 1 << 20 }),
        createWriteStream(join(work, `${name}.copy`), { highWaterMark: 1 << 20 }),
      );
      rmSync(join(work, `${name}.copy`));
    }
  };
  const phase = async <T>(seconds: number, op: () => Promise<T>) => {
    const cpu = process.cpuUsage();
    const started = performance.now();
    let count = 0;
    let last: T | undefined;
    do {
      last = await op();
      count++;
    } while (performance.now() < started + seconds * 1000);
    const used = process.cpuUsage(cpu);
    return { count, s: (performance.now() - started) / 1000, cpuMs: (used.user + used.system) / 1000, last };
  };
  if (warmupS > 0) await phase(warmupS, up);
  const u = await phase(durationS, up);
  const name = u.last as string;
  if (warmupS > 0) await phase(warmupS, () => down(name));
  const d = await phase(durationS, () => down(name));
  rmSync(work, { recursive: true, force: true });
  s3?.destroy();
  await answer({
    result: { upCount: u.count, upS: u.s, upCpuMs: u.cpuMs, downCount: d.count, downS: d.s, downCpuMs: d.cpuMs },
  });
  process.exit(0);
}
