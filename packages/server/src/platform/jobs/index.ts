export type { ClaimedJob, EnqueueOptions, JobContext, JobDefinition, QueueStats } from "./queue.js";
export { defaultRetryDelayMs, JobQueue, nextCronTime, RetryLaterError } from "./queue.js";
export type { WorkerOptions } from "./worker.js";
export { Worker } from "./worker.js";
