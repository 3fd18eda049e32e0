import { defineErrors } from "../../platform/errors.js";

/** ProbeErrors are the probe module's stable error codes. */
export const ProbeErrors = defineErrors({
  probe_item_not_found: { status: 404, title: "Probe item not found" },
  probe_refused: { status: 409, title: "The probe refused the request" },
});
