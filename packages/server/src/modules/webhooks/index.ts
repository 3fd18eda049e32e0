/** The webhooks module's public surface: other modules import only this file. */
export { WebhooksErrors } from "./errors.js";
export { sign } from "./internal/signing.js";
export { classifyAddress, isAllowedAddress, type Resolver } from "./internal/ssrf.js";
export { webhooksModule, webhooksModuleWith } from "./module.js";
export type { Attempt, Endpoint, Message } from "./schemas.js";
export { MAX_ATTEMPTS, RETRY_SCHEDULE_MS } from "./service/delivery.js";
export type { WebhooksService } from "./service.js";
