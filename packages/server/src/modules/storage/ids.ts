import { defineIds } from "../../platform/ids.js";

/** storageIds are the ID kinds the storage module owns. NOTE: prefixes are public API. */
export const storageIds = defineIds({ file: "fil", bucket: "bkt", upload: "upl" });

/** newId returns a new ID of one of storage's kinds (or the platform's, e.g. `request`). */
export const newId = storageIds.newId;
