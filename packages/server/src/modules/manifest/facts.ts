import { z } from "zod";
import type { FactDeclaration } from "../../platform/module.js";

/** MANIFEST_FACTS: every change an apply makes records its own module's fact; the apply records one more. */
export const MANIFEST_FACTS: Readonly<Record<string, FactDeclaration>> = {
  "manifest.applied": {
    description:
      "A manifest was applied to the environment (its changes are recorded as their own facts, in the same transaction).",
    data: z.object({
      manifestHash: z.string(),
      liveHashBefore: z.string(),
      liveHashAfter: z.string(),
      sections: z.array(z.string()),
      changes: z.number().int(),
      additive: z.number().int(),
      behaviour: z.number().int(),
      destructive: z.number().int(),
    }),
  },
};
