import { defineErrors } from "../../platform/errors.js";

export const ManifestErrors = defineErrors({
  manifest_stale: { status: 409, title: "The configuration changed since the plan" },
  manifest_blocked: { status: 409, title: "The manifest holds changes the plane refuses" },
  manifest_destructive: { status: 409, title: "The manifest holds destructive changes" },
  manifest_ambiguous: { status: 409, title: "Two live objects share a manifest key" },
});
