import { createHash } from "node:crypto";
import type { Writable } from "node:stream";
import type { Manifest } from "./manifest.js";
import { type BackupTarget, MissingBackupFile } from "./targets.js";

/** VerifyProblem names one file of a backup that does not match its manifest. */
export interface VerifyProblem {
  path: string;
  kind: "missing" | "size_mismatch" | "hash_mismatch" | "unreadable";
  message: string;
}

/** BackupCheck is `verify`'s answer: whether every file matches the manifest, and what does not. */
export interface BackupCheck {
  ok: boolean;
  id: string;
  files: number;
  bytes: number;
  problems: VerifyProblem[];
}

/**
 * checkBackup reads every file the manifest lists from the target and compares its size and
 * SHA-256 (nothing is restored). `sink`, when given, receives each file's bytes as they are
 * checked (the restore writes them to their new place that way: one read for both).
 */
export async function checkBackup(
  target: BackupTarget,
  manifest: Manifest,
  onFile: (done: number, total: number, path: string) => void = () => {},
  sink?: (path: string) => Promise<{ stream: Writable; done: () => Promise<void> }>,
): Promise<BackupCheck> {
  const problems: VerifyProblem[] = [];
  let bytes = 0;
  for (const [i, file] of manifest.files.entries()) {
    onFile(i, manifest.files.length, file.path);
    try {
      const body = await target.read(manifest.id, file.path);
      const hash = createHash("sha256");
      let size = 0;
      const out = sink ? await sink(file.path) : null;
      for await (const chunk of body) {
        const buf = chunk as Buffer;
        hash.update(buf);
        size += buf.length;
        if (out && !out.stream.write(buf)) await new Promise((r) => out.stream.once("drain", r));
      }
      if (out) await out.done();
      bytes += size;
      if (size !== file.bytes) {
        problems.push({
          path: file.path,
          kind: "size_mismatch",
          message: `${size} bytes, the manifest says ${file.bytes}`,
        });
      } else if (hash.digest("hex") !== file.sha256) {
        problems.push({ path: file.path, kind: "hash_mismatch", message: "its SHA-256 differs from the manifest's" });
      }
    } catch (err) {
      if (err instanceof MissingBackupFile) problems.push({ path: file.path, kind: "missing", message: err.message });
      else problems.push({ path: file.path, kind: "unreadable", message: (err as Error).message });
    }
  }
  onFile(manifest.files.length, manifest.files.length, "");
  return { ok: problems.length === 0, id: manifest.id, files: manifest.files.length, bytes, problems };
}
