import { type Baseplate, BaseplateProblem, createBaseplate } from "@baseplate/sdk";
import { endSession, session } from "./session.js";

/**
 * The console's only way to the plane: the public API through @baseplate/sdk, same origin.
 *
 * - `plane` carries the operator's session for plane-wide calls (projects, environments, operators).
 * - `inEnvironment(id)` is the same client with `Baseplate-Environment: <id>`: the header by which
 *   an operator names the environment an environment-scoped call (tenants, users, keys, audit,
 *   events, webhooks) acts in. Views of those resources take their client from here.
 *
 * Any 401 answer to a call made with the session (an idle or absolute expiry, a revoked token)
 * ends the session and takes the operator back to the sign-in page with a message — except a
 * wrong second-factor code (`invalid_mfa_code`), which is about the code typed, not the session.
 */

/** ENVIRONMENT_HEADER names the environment an operator's call acts in. */
export const ENVIRONMENT_HEADER = "Baseplate-Environment";

const EXPIRED = "Your session has ended (it expired or was revoked). Sign in again to continue.";

function sessionFetch(environmentId?: string): typeof fetch {
  return async (input, init) => {
    const request = new Request(input, init);
    if (environmentId) request.headers.set(ENVIRONMENT_HEADER, environmentId);
    const signedIn = request.headers.has("authorization");
    const response = await fetch(request);
    if (response.status === 401 && signedIn) {
      const problem = (await response
        .clone()
        .json()
        .catch(() => null)) as { code?: string } | null;
      if (problem?.code !== "invalid_mfa_code") endSession(EXPIRED);
    }
    return response;
  };
}

function client(environmentId?: string): Baseplate {
  return createBaseplate({
    baseUrl: location.origin,
    // Read at each call: the same client serves successive sessions.
    token: () => session.value?.token ?? "",
    fetch: sessionFetch(environmentId),
    // A person is waiting: fail fast and let them retry.
    retries: 1,
    timeoutMs: 15_000,
  });
}

/** plane is the client for plane-wide operator calls. */
export const plane: Baseplate = client();

/** anonymous is the client for calls made before signing in (no credential is sent). */
export const anonymous: Baseplate = createBaseplate({ baseUrl: location.origin, retries: 1, timeoutMs: 15_000 });

const scoped = new Map<string, Baseplate>();

/** inEnvironment returns the client whose calls act in one environment (one client per environment). */
export function inEnvironment(environmentId: string): Baseplate {
  let c = scoped.get(environmentId);
  if (!c) {
    c = client(environmentId);
    scoped.set(environmentId, c);
  }
  return c;
}

/** asProblem turns anything a call threw into a problem the views can show. */
export function asProblem(err: unknown): BaseplateProblem {
  if (err instanceof BaseplateProblem) return err;
  const detail =
    err instanceof DOMException && err.name === "TimeoutError"
      ? "The plane did not answer in time."
      : "The plane could not be reached. Check the connection and try again.";
  return new BaseplateProblem({
    type: "about:blank",
    title: "Network error",
    status: 0,
    detail,
    code: "network_error",
    requestId: "",
  });
}
