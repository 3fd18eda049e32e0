import type { Command } from "../command.js";
import { remoteAuditCommands } from "./audit.js";
import { eventCommands } from "./events.js";
import { tenantKeyCommands } from "./keys.js";
import { manifestCommands } from "./manifest.js";
import { reviewCommands } from "./review.js";
import { sessionCommands } from "./session.js";
import { remoteTenantCommands } from "./tenants.js";
import { usageCommands } from "./usage.js";
import { userCommands } from "./users.js";
import { remoteWebhookCommands } from "./webhooks.js";

export { fetchAuditPublicKeys } from "./audit.js";
export { connect, reach, reportRemote } from "./client.js";
export { resolveConnection } from "./profiles.js";

/** REMOTE_COMMANDS talk to a plane over its API, through the SDK. */
export const REMOTE_COMMANDS: Command[] = [
  ...sessionCommands,
  ...remoteTenantCommands,
  ...userCommands,
  ...tenantKeyCommands,
  ...eventCommands,
  ...remoteAuditCommands,
  ...remoteWebhookCommands,
  ...usageCommands,
  ...manifestCommands,
  ...reviewCommands,
];
