import { defineIds } from "../../platform/ids.js";

/** probeIds: the probe module's one ID kind (declared as its `ids`). */
export const probeIds = defineIds({ testItem: "tst" });
export const newId = probeIds.newId;
