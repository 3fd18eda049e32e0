import { z } from "zod";

/**
 * Id is the schema of an object id in a path, query or body: 1–64 characters. Ids are opaque to
 * clients; an id of another kind, tenant or environment simply finds nothing (404).
 */
export const Id = z.string().min(1).max(64);
