import { type Baseplate, createBaseplate } from "@baseplate/sdk";
import { signal } from "@preact/signals";

/**
 * The portal's way to the plane: the public API through @baseplate/sdk, same origin, with the
 * portal session's bearer token. The token lives in this tab's sessionStorage only (a reload keeps
 * the session; closing the tab forgets it); the link's one-time token is never stored.
 */

export interface PortalSessionState {
  token: string;
  expiresAt: string;
  /** returnUrl: the product's page the admin came from (the expired screen links back to it). */
  returnUrl: string | null;
}

const KEY = "baseplate.portal.session";

function restore(): PortalSessionState | null {
  try {
    const raw = sessionStorage.getItem(KEY);
    if (!raw) return null;
    const s = JSON.parse(raw) as PortalSessionState;
    return Date.parse(s.expiresAt) > Date.now() ? s : null;
  } catch {
    return null;
  }
}

/** portalSession is the open session, or null. */
export const portalSession = signal<PortalSessionState | null>(restore());

/** ended says why the portal closed: its session expired (or was revoked), or the admin signed out. */
export const ended = signal<{ reason: "expired" | "signed_out"; returnUrl: string | null } | null>(null);

export function startSession(s: PortalSessionState): void {
  portalSession.value = s;
  ended.value = null;
  try {
    sessionStorage.setItem(KEY, JSON.stringify(s));
  } catch {
    // Storage refused (private mode): the session lasts until the page is reloaded.
  }
}

export function endSession(reason: "expired" | "signed_out"): void {
  const returnUrl = portalSession.value?.returnUrl ?? null;
  portalSession.value = null;
  ended.value = { reason, returnUrl };
  try {
    sessionStorage.removeItem(KEY);
  } catch {
    // nothing stored
  }
}

/** rememberReturnUrl keeps the context's return link with the session (for the expired screen). */
export function rememberReturnUrl(returnUrl: string | null): void {
  const s = portalSession.value;
  if (s && s.returnUrl !== returnUrl) startSession({ ...s, returnUrl });
}

/** portal is the client of the portal session: a 401 ends the session (expired or revoked). */
export const portal: Baseplate = createBaseplate({
  baseUrl: location.origin,
  token: () => portalSession.value?.token ?? "",
  fetch: async (input, init) => {
    const request = new Request(input, init);
    const response = await fetch(request);
    if (response.status === 401 && request.headers.has("authorization")) endSession("expired");
    return response;
  },
  retries: 1,
  timeoutMs: 15_000,
});

/** exchange is the client that exchanges the link: no credential, no retry (a link opens once). */
export const exchange: Baseplate = createBaseplate({ baseUrl: location.origin, retries: 0, timeoutMs: 15_000 });
