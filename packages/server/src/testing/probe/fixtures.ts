import { created, defineModuleFixtures, readBack } from "../isolation.js";

/**
 * The probe module's fixtures, beside it like any module's: probe items for the isolation runner.
 * Its mutating route is left out of the facts sweep: the probe exists for the harness, and its
 * facts are not the plane's (it declares none in the event catalog).
 */
export const fixtures = defineModuleFixtures({
  module: "probe",
  params: {
    itemId: async (w, env) => {
      const body = await created(
        await w.call(env.key, "POST", "/v1/probe/items", { body: { name: `item ${env.marker} ${w.unique()}` } }),
        "creating a probe item",
      );
      const id = body.id as string;
      return { id, owner: env.key, read: () => readBack(w, env.key, `/v1/probe/items/${id}`) };
    },
  },
  factExclusions: {
    "POST /v1/probe/items": "a harness-only module: its facts are not the plane's and are not in the catalog",
  },
});
