import { signal } from "@preact/signals";

/**
 * Session: the signed-in operator's console session. The token lives in sessionStorage only (gone
 * when the tab closes, never shared with other tabs or sent anywhere but the plane's API).
 */
export interface Session {
  token: string;
  /** tokenId: the session's id among the operator's tokens (`GET /v1/operator/tokens`). */
  tokenId: string;
  operator: { id: string; email: string; name: string; role: "admin" | "support" };
  expiresAt: string | null;
}

const KEY = "baseplate.console.session";

function restore(): Session | null {
  try {
    const raw = sessionStorage.getItem(KEY);
    if (!raw) return null;
    const s = JSON.parse(raw) as Session;
    if (s.expiresAt && Date.parse(s.expiresAt) <= Date.now()) {
      sessionStorage.removeItem(KEY);
      return null;
    }
    return s;
  } catch {
    return null;
  }
}

/** session is the current session, or null when signed out. */
export const session = signal<Session | null>(restore());

/** signOutReason is the message the sign-in page shows after an involuntary sign-out. */
export const signOutReason = signal<string | null>(null);

export function startSession(s: Session): void {
  sessionStorage.setItem(KEY, JSON.stringify(s));
  signOutReason.value = null;
  session.value = s;
}

/** endSession forgets the token; `reason` is shown on the sign-in page (an expired session). */
export function endSession(reason: string | null = null): void {
  sessionStorage.removeItem(KEY);
  signOutReason.value = reason;
  session.value = null;
}
