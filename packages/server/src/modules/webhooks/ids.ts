import { defineIds } from "../../platform/ids.js";

/**
 * webhooksIds are the ID kinds the webhooks module owns, declared as `ids` in its definition (the
 * composition root refuses a kind or prefix another module claims). NOTE: prefixes are public API.
 */
export const webhooksIds = defineIds({ webhookEndpoint: "whe", webhookMessage: "msg", webhookAttempt: "wha" });

/** newId returns a new ID of one of webhooks's kinds (or the platform's, e.g. `request`). */
export const newId = webhooksIds.newId;
