import { created, defineModuleFixtures } from "../../testing/isolation.js";

/**
 * The backups module's fixtures: its routes are operator-only; a backup (the `backupId` of the
 * read routes) is taken by the admin operator into the test plane's default target (the data dir's
 * `backups`). The facts sweep takes one and expects `backup.created` on the plane chain.
 */
export const fixtures = defineModuleFixtures({
  module: "backups",
  operatorParams: {
    backupId: async (w) => {
      const backup = await created(
        await w.call(w.admin, "POST", "/v1/operator/backups", { body: {} }),
        "taking a backup",
      );
      return (backup as { id: string }).id;
    },
  },
  facts: {
    "POST /v1/operator/backups": async (w) => ({
      caller: w.admin,
      body: {},
      expect: () => ({ types: ["backup.created"], environmentId: null }),
    }),
  },
});
