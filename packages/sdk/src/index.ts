/**
 * @baseplate/sdk — the typed client of the Baseplate API. Framework middleware lives in the
 * subpaths `@baseplate/sdk/express`, `@baseplate/sdk/fastify` and `@baseplate/sdk/next`.
 */

export {
  type Authenticator,
  type AuthOptions,
  type AuthOutcome,
  type BaseplateAuth,
  can,
  createAuthenticator,
  type Principal,
} from "./auth.js";
export {
  type Baseplate,
  type BaseplateOptions,
  createBaseplate,
  type PageItem,
  type PaginatedPath,
  type PaginateInit,
} from "./client.js";
export { type BaseplateEvent, type EventStreamOptions, type StreamedEvent, streamEvents } from "./events.js";
export type { components, operations, paths } from "./generated/openapi.js";
export {
  BaseplateProblem,
  type FetchResult,
  isProblemDocument,
  type ProblemCode,
  type ProblemDocument,
  type ProblemFieldError,
  unwrap,
} from "./problem.js";
export { createTransport, type RetryOptions, type TransportOptions } from "./transport.js";
export {
  type VerifiedWebhook,
  verifyWebhook,
  type WebhookHeaders,
  WebhookVerificationError,
  type WebhookVerifyOptions,
} from "./webhooks.js";
