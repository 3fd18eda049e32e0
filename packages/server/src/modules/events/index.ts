/** The events module's public surface: other modules import only this file. */
export { EventsErrors } from "./errors.js";
export { matchesType } from "./internal/rows.js";
export { eventsModule } from "./module.js";
export type { Event, EventType } from "./schemas.js";
export { TypePattern } from "./schemas.js";
export type { AppendListener } from "./service/log.js";
export type { EventsService } from "./service.js";
