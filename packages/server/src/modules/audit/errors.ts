import { defineErrors } from "../../platform/errors.js";

export const AuditErrors = defineErrors({
  audit_schema_not_found: { status: 404, title: "Audit schema not found" },
  audit_metadata_invalid: { status: 422, title: "The metadata does not match the action's schema" },
  audit_schema_invalid: { status: 400, title: "The JSON schema is not supported" },
  audit_signing_key_external: { status: 409, title: "The signing key is managed outside the plane" },
});
