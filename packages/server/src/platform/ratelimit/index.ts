export type { BucketAnswer, BucketRule } from "./gcra.js";
export { admit } from "./gcra.js";
export type {
  RateLimitDecision,
  RateLimitOverrides,
  RateLimitScope,
  RateLimitSurface,
  TenantRateLimits,
} from "./limiter.js";
export { RATE_LIMIT_SCOPES, RATE_LIMIT_SURFACES, RateLimiter } from "./limiter.js";
export type { BucketRequest, BucketStore } from "./stores.js";
export { DatabaseBucketStore, MemoryBucketStore } from "./stores.js";
