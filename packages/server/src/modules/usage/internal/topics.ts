/**
 * Change-bus topics of the usage module (see `OwnedCache`):
 * - METERS_TOPIC carries an environment id when one of its meters is created, changed or archived
 *   (ingestion caches the meters of an event type);
 * - STANDING_TOPIC carries `<environment id>:<tenant id>` when a tenant's entitlements or holds
 *   change (the entitlement check caches a tenant's standing).
 */
export const METERS_TOPIC = "usage.meters";
export const STANDING_TOPIC = "usage.standing";

/** standingOwner: the owner id of a tenant's cached standing. */
export function standingOwner(environmentId: string, tenantId: string): string {
  return `${environmentId}:${tenantId}`;
}
