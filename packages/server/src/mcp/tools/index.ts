import { ACCESS_TOOLS } from "./access.js";
import type { ToolSpec } from "./define.js";
import { IDENTITY_TOOLS } from "./identity.js";
import { RECORD_TOOLS } from "./records.js";
import { USAGE_TOOLS } from "./usage.js";

export type { Identity, ToolContext, ToolResult, ToolSpec } from "./define.js";
export { probeKey, resolveIdentity } from "./identity.js";

/** TOOLS: every tool `baseplate mcp` serves, in the order clients list them (docs/mcp.md lists each). */
export const TOOLS: readonly ToolSpec[] = [...IDENTITY_TOOLS, ...ACCESS_TOOLS, ...RECORD_TOOLS, ...USAGE_TOOLS];
