import { OwnedCache } from "../../../platform/cache.js";
import type { ChangeBus } from "../../../platform/db/bus.js";
import type { Principal } from "../../../platform/principal.js";

/**
 * CredentialCache keeps resolved principals by token hash (see OwnedCache): revocations publish the
 * credential's, user's, surface's or environment's id on the `credentials` topic.
 */
export class CredentialCache extends OwnedCache<Principal> {
  constructor(bus: ChangeBus, ttlMs = 30_000, maxEntries = 50_000) {
    super(bus, ["credentials"], ttlMs, maxEntries);
  }
}
