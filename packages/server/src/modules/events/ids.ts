import { defineIds } from "../../platform/ids.js";

/**
 * eventsIds are the ID kinds the events module owns, declared as `ids` in its definition (the
 * composition root refuses a kind or prefix another module claims). NOTE: prefixes are public API.
 */
export const eventsIds = defineIds({ event: "evt", eventType: "etp" });

/** newId returns a new ID of one of events's kinds (or the platform's, e.g. `request`). */
export const newId = eventsIds.newId;
