import { defineErrors } from "../../platform/errors.js";

/**
 * Stable problem codes of the usage module. Per-item answers of a batch carry the same codes as
 * the single-event route's problems.
 */
export const UsageErrors = defineErrors({
  meter_not_found: { status: 404, title: "Meter not found" },
  meter_key_taken: { status: 409, title: "A meter with this key already exists" },
  meter_has_events: { status: 409, title: "The meter already has events: its definition is fixed" },
  meter_archived: { status: 409, title: "The meter is archived" },
  entitlement_not_found: { status: 404, title: "Entitlement not found" },
  hold_not_found: { status: 404, title: "Hold not found" },
  hold_not_open: { status: 409, title: "The hold is no longer open" },
  meter_not_limitable: { status: 422, title: "Limits count `sum` and `count` meters only" },
  feature_not_entitled: { status: 404, title: "The tenant has no metered entitlement to this feature" },
  hold_needs_sum_meter: { status: 422, title: "Holds need a metered entitlement on a `sum` meter" },
  limit_exceeded: { status: 409, title: "The reservation would exceed the entitlement's limit" },
  invalid_event: { status: 400, title: "The usage event is invalid" },
  event_out_of_window: { status: 422, title: "The event's time is outside the accepted window" },
  subject_required: { status: 422, title: "The event names no subject" },
  subject_not_found: { status: 404, title: "The subject names no tenant of this environment" },
  tenant_deactivated: { status: 422, title: "The tenant is deactivated: its usage is closed" },
  tenant_suspended: { status: 403, title: "The tenant is suspended" },
  call_id_required: { status: 422, title: "Agent keys report usage with a `callId`" },
  unknown_event_type: { status: 422, title: "No active meter counts this event type" },
  invalid_value: { status: 422, title: "The event's value does not fit the meter" },
  invalid_query: { status: 400, title: "The usage query is invalid" },
});
