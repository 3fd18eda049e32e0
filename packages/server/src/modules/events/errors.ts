import { defineErrors } from "../../platform/errors.js";

export const EventsErrors = defineErrors({
  event_not_found: { status: 404, title: "Event not found" },
  event_type_not_found: { status: 404, title: "Event type not found" },
  event_type_unknown: { status: 422, title: "The event type is not in the catalog" },
  event_type_reserved: { status: 422, title: "The event type belongs to the plane" },
  event_type_taken: { status: 409, title: "An event type with this name exists in the environment" },
  event_data_invalid: { status: 422, title: "The event data does not match its type's schema" },
  event_schema_invalid: { status: 400, title: "The JSON Schema is not supported" },
  event_id_reused: { status: 409, title: "An event with this id exists with different content" },
});
