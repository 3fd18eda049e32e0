import { defineModuleFixtures, expectJson } from "../../testing/isolation.js";
import { hashOf } from "./service.js";

const ROLE = { key: "manifest-probe", name: "Manifest probe", permissions: ["usage:read"] };

/**
 * The manifest module's fixtures: an apply needs the hash of what it plans against, so the sweeps'
 * body is the empty manifest (no section: the hash of `{}`), which applies and changes nothing but
 * its own `manifest.applied`. The facts sweep adds one role to the live roles, plans and applies.
 */
export const fixtures = defineModuleFixtures({
  module: "manifest",
  bodies: {
    "POST /v1/manifest/plan": () => ({ manifest: {} }),
    "POST /v1/manifest/apply": () => ({ manifest: {}, liveHash: hashOf({}) }),
  },
  facts: {
    "POST /v1/manifest/apply": async (w) => {
      // The environment's roles as they are, plus one: the apply creates exactly that role.
      const live = (await expectJson(await w.call(w.a.key, "GET", "/v1/manifest"), 200, "exporting the manifest")) as {
        manifest: { roles: unknown[] };
      };
      const manifest = { roles: [...live.manifest.roles, ROLE] };
      const plan = (await expectJson(
        await w.call(w.a.key, "POST", "/v1/manifest/plan", { body: { manifest } }),
        200,
        "planning a manifest",
      )) as { liveHash: string };
      return {
        caller: w.a.key,
        body: { manifest, liveHash: plan.liveHash },
        expect: () => ({ types: ["role.created", "manifest.applied"], environmentId: w.a.environmentId }),
      };
    },
  },
  factExclusions: {
    "POST /v1/manifest/plan": "reads only: a plan changes nothing (a POST for its body, the manifest)",
  },
});
