/** The webhooks module's public surface: other modules import only this file. */
export { WebhooksErrors } from "./errors.js";
export { webhooksModule } from "./module.js";
export type { Attempt, Endpoint, Message } from "./schemas.js";
export type { WebhooksService } from "./service.js";
