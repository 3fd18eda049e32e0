import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import S3rver from "s3rver";

/** S3_TEST_CREDENTIALS: what the S3-compatible test server accepts. */
export const S3_TEST_CREDENTIALS = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" } as const;

export interface S3TestServer {
  endpoint: string;
  bucket: string;
  stop(): Promise<void>;
}

/**
 * startS3Server runs an S3-compatible server (s3rver, an npm dependency: nothing to install
 * beside the lockfile) over real HTTP on a free local port, with one empty bucket. Tests of the S3
 * driver start their own; they never skip.
 */
export async function startS3Server(bucket = "baseplate-test"): Promise<S3TestServer> {
  const directory = mkdtempSync(join(tmpdir(), "baseplate-s3-"));
  const server = new S3rver({
    address: "127.0.0.1",
    port: 0,
    silent: true,
    directory,
    configureBuckets: [{ name: bucket }],
  });
  const { port } = await server.run();
  return {
    endpoint: `http://127.0.0.1:${port}`,
    bucket,
    async stop() {
      await server.close();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}
