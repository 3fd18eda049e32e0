import { createHmac, randomBytes } from "node:crypto";
import type { Selectable } from "kysely";
import { fromJson } from "../../../platform/db/db.js";
import { iso, isoOrNull } from "../../../platform/http/schemas.js";
import type { Surface } from "../../tenancy/index.js";
import type { Passkey } from "../schemas.js";
import type { PasskeyTable } from "../tables.js";
import type { PasskeySettings } from "./settings/passkeys.js";

/** CHALLENGE_TTL_MS: how long a ceremony's challenge may be answered (also the browser's timeout). */
export const CHALLENGE_TTL_MS = 5 * 60_000;

/** RelyingParty: who a surface's passkeys belong to, and the pages that may use them. */
export interface RelyingParty {
  id: string;
  name: string;
  origins: string[];
}

/**
 * relyingPartyOf resolves a surface's WebAuthn relying party from its `passkeys` settings: the
 * origins default to the surface's allowed origins, the rpId to the first origin's host, the name
 * to the surface's name. Only origins whose host is the rpId or one of its subdomains are kept
 * (a browser would refuse the others). Returns a reason instead when passkeys cannot work there.
 */
export function relyingPartyOf(
  surface: Pick<Surface, "name" | "allowedOrigins">,
  settings: PasskeySettings,
): RelyingParty | { refused: string } {
  if (!settings.enabled) return { refused: "Passkeys are not enabled on this surface." };
  const listed = settings.origins.length > 0 ? settings.origins : surface.allowedOrigins;
  const origins: string[] = [];
  for (const origin of listed) {
    try {
      origins.push(new URL(origin).origin);
    } catch {
      // An origin the tenancy module accepted but URL cannot parse is skipped, never used.
    }
  }
  const first = origins[0];
  const rpId = settings.rpId ?? (first ? new URL(first).hostname : null);
  if (!rpId) return { refused: "Passkeys need the surface's origins (or `passkeys.origins`) to be set." };
  const matching = origins.filter((o) => {
    const host = new URL(o).hostname;
    return host === rpId || host.endsWith(`.${rpId}`);
  });
  if (matching.length === 0) return { refused: `No origin of this surface belongs to the passkey rpId ${rpId}.` };
  return { id: rpId, name: settings.rpName ?? surface.name, origins: [...new Set(matching)] };
}

/** base64url encodes bytes without padding (WebAuthn's encoding on the wire). */
export function base64url(bytes: Uint8Array | string): string {
  return Buffer.from(bytes).toString("base64url");
}

/** newChallenge returns 32 random bytes, base64url encoded. */
export function newChallenge(): string {
  return randomBytes(32).toString("base64url");
}

/**
 * clientChallenge reads the challenge a client signed from its base64url `clientDataJSON`
 * (null when it is not one). The signature is checked later: this only finds the ceremony.
 */
export function clientChallenge(clientDataJSON: string): string | null {
  try {
    const data = JSON.parse(Buffer.from(clientDataJSON, "base64url").toString("utf8")) as { challenge?: unknown };
    return typeof data.challenge === "string" && data.challenge.length <= 512 ? data.challenge : null;
  } catch {
    return null;
  }
}

/** userHandleOf is the WebAuthn user handle of a user: its id's bytes (no personal data). */
export function userHandleOf(userId: string): Uint8Array<ArrayBuffer> {
  return new Uint8Array(Buffer.from(userId, "utf8"));
}

/**
 * DecoyCredentials makes the credential list an unknown address is answered with, so sign-in
 * options look alike whether or not the address has an account. The ids are an HMAC of the
 * environment and the address, the same on every call.
 * NOTE: the key lives in the process: a restart, or another process of a scale-out plane, gives
 * other decoys for the same address; and a user with several passkeys shows several ids.
 */
export class DecoyCredentials {
  readonly #key = randomBytes(32);

  for(environmentId: string, email: string): Array<{ id: string; type: "public-key"; transports: string[] }> {
    const mac = createHmac("sha256", this.#key).update(`${environmentId}\n${email}`).digest();
    return [
      {
        id: base64url(mac.subarray(0, 16 + ((mac[31] ?? 0) % 17))),
        type: "public-key",
        transports: ["internal", "hybrid"],
      },
    ];
  }
}

export function toPasskey(r: Selectable<PasskeyTable>): Passkey {
  return {
    id: r.id,
    userId: r.user_id,
    surfaceId: r.surface_id,
    rpId: r.rp_id,
    credentialId: r.credential_id,
    name: r.name,
    transports: fromJson<string[]>(r.transports),
    aaguid: r.aaguid,
    backedUp: Boolean(r.backed_up),
    createdAt: iso(r.created_at),
    lastUsedAt: isoOrNull(r.last_used_at),
  };
}
