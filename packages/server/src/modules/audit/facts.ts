import type { FactDeclaration } from "../../platform/module.js";
import { DeniedData } from "./service/denials.js";

const Changes = "`changes` holds the before/after values of the fields that changed.";

/** AUDIT_FACTS: the fact types the audit module records (listed in every environment's event catalog). */
export const AUDIT_FACTS: Record<string, FactDeclaration> = {
  "audit_checkpoint.created": { description: "A signed checkpoint of an audit chain was written." },
  "audit_schema.created": { description: "A product registered the schema of one of its audit actions." },
  "audit_schema.updated": { description: `A product audit action's schema changed. ${Changes}` },
  "audit_schema.deleted": { description: "A product audit action's schema was removed." },
  "audit_settings.updated": { description: `An environment's audit settings (retention) changed. ${Changes}` },
  "audit_signing_key.rotated": { description: "The key signing audit checkpoints was rotated." },
  "access.denied": {
    description:
      "An agent or tenant key was refused (permission, scope, another tenant, suspension, credential kind). At most one per key, action and reason per minute; `suppressed` counts the repeats in between.",
    data: DeniedData,
  },
};
