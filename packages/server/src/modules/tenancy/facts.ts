import { z } from "zod";
import type { FactDeclaration } from "../../platform/module.js";

const Changes = "`changes` holds the before/after values of the fields that changed.";
const Transition = z.object({ reason: z.string().nullable(), category: z.enum(["billing", "other"]).nullable() });

/** TENANCY_FACTS: the fact types the tenancy module records (listed in every environment's event catalog). */
export const TENANCY_FACTS: Record<string, FactDeclaration> = {
  "project.created": { description: "A project was created." },
  "project.updated": { description: `A project was renamed. ${Changes}` },
  "project.archived": { description: "A project was archived; its environments' credentials stop working." },
  "environment.created": { description: "An environment was created in a project." },
  "environment.updated": { description: `An environment was renamed. ${Changes}` },
  "environment.archived": { description: "An environment was archived." },
  "surface.created": { description: "A product surface was registered." },
  "surface.updated": { description: `A surface's settings changed. ${Changes}` },
  "surface.archived": { description: "A surface was archived." },
  "tenant.created": {
    description: "A tenant (customer organisation) was created.",
    data: z.object({ name: z.string(), slug: z.string(), externalId: z.string().nullable() }),
  },
  "tenant.updated": { description: `A tenant's name, slug, external id or metadata changed. ${Changes}` },
  "tenant.suspended": {
    description: `A tenant was suspended (its sessions and keys stop; webhook delivery to its endpoints pauses). ${Changes}`,
    data: Transition,
  },
  "tenant.reactivated": {
    description: `A suspended or deactivated tenant is active again. ${Changes}`,
    data: Transition,
  },
  "tenant.deactivated": { description: `A tenant was deactivated. ${Changes}`, data: Transition },
};
