/**
 * The SDK's server-side helpers (`createAuthenticator`) import `node:crypto`; the console never
 * calls them, and the bundler drops them. This module stands in for `node:crypto` during the build
 * so the bundle depends on nothing Node-only; should a call ever reach it, it fails loudly.
 */
function unavailable(): never {
  throw new Error("node:crypto is not available in the browser.");
}
export const createHash = unavailable;
export const randomUUID = unavailable;
