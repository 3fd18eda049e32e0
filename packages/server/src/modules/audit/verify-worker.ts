import { parentPort } from "node:worker_threads";
import { type SegmentTask, verifySegment } from "./verify-segments.js";

/** A verification worker thread (see `verify-threads.ts`): checks the segments it is sent, one at a time. */
parentPort?.on("message", (task: SegmentTask) => {
  try {
    parentPort?.postMessage({ report: verifySegment(task) });
  } catch (err) {
    parentPort?.postMessage({ error: String((err as Error)?.stack ?? err) });
  }
});
