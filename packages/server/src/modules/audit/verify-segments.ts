import { closeSync, openSync, readSync } from "node:fs";
import { entryOfRow } from "./internal/entry-of-row.js";
import type { AuditEntryTable } from "./tables.js";
import { EntryRun, feedLine, type SegmentReport, type VerificationError } from "./verifier.js";

/**
 * Segments of a chain checked on their own, on a worker thread (see `verify-threads.ts`): a byte
 * range of a JSON Lines export, or a page of stored rows. Each starts without the state before it
 * (`EntryRun` with a null state); the caller stitches the reports in order.
 */

/** SegmentTask is one segment to check: its lines (a file's byte range) or its rows. */
export type SegmentTask =
  | {
      kind: "file";
      path: string;
      start: number;
      end: number;
      chain: string | null;
      checkpoints: Array<[number, string]>;
    }
  | { kind: "rows"; rows: AuditEntryTable[]; chain: string | null; checkpoints: Array<[number, string]> };

const BLOCK = 4 * 1024 * 1024;

/**
 * fileLines yields the lines of bytes [start, end) of a file, split at "\n" (a last line without
 * one included), reading blocks of 4 MiB. `cursor.next` is the offset after the line last yielded.
 */
export function* fileLines(fd: number, start: number, end: number, cursor = { next: start }): Generator<string> {
  let buf = Buffer.allocUnsafe(Math.min(BLOCK, Math.max(1024, end - start)));
  let used = 0;
  let pos = start;
  let base = start; // file offset of buf[0]
  for (;;) {
    if (used === buf.length) {
      const bigger = Buffer.allocUnsafe(buf.length * 2);
      buf.copy(bigger, 0, 0, used);
      buf = bigger;
    }
    const want = Math.min(buf.length - used, end - pos);
    const got = want > 0 ? readSync(fd, buf, used, want, pos) : 0;
    pos += got;
    used += got;
    const view = buf.subarray(0, used);
    let from = 0;
    for (let nl = view.indexOf(10, from); nl !== -1; nl = view.indexOf(10, from)) {
      cursor.next = base + nl + 1;
      yield view.toString("utf8", from, nl);
      from = nl + 1;
    }
    if (got === 0) {
      if (from < used) {
        cursor.next = base + used;
        yield view.toString("utf8", from, used);
      }
      return;
    }
    buf.copy(buf, 0, from, used);
    used -= from;
    base += from;
  }
}

function run(task: SegmentTask): EntryRun {
  return new EntryRun({ chain: task.chain, checkpoints: new Map(task.checkpoints), state: null });
}

/** verifyFileSegment checks the lines of a byte range of an export (after its header and checkpoints). */
export function verifyFileSegment(task: Extract<SegmentTask, { kind: "file" }>): SegmentReport {
  const entries = run(task);
  const early: VerificationError[] = [];
  let lines = 0;
  let stopped = false;
  const fd = openSync(task.path, "r");
  try {
    for (const raw of fileLines(fd, task.start, task.end)) {
      lines++;
      const line = raw.trim();
      if (line === "") continue;
      if (!feedLine(entries, line, lines, early)) {
        stopped = true;
        break;
      }
    }
  } finally {
    closeSync(fd);
  }
  return { ...entries.report(), early, lines, stopped };
}

/** verifyRowSegment checks a page of stored rows, in seq order. */
export function verifyRowSegment(task: Extract<SegmentTask, { kind: "rows" }>): SegmentReport {
  const entries = run(task);
  for (const row of task.rows) entries.entry(entryOfRow(row));
  return { ...entries.report(), lines: task.rows.length };
}

export function verifySegment(task: SegmentTask): SegmentReport {
  return task.kind === "file" ? verifyFileSegment(task) : verifyRowSegment(task);
}
