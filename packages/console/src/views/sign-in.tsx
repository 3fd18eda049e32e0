import { BaseplateProblem, unwrap } from "@baseplate/sdk";
import { useState } from "preact/hooks";
import { anonymous } from "../api.js";
import { signOutReason, startSession } from "../session.js";
import { ProblemNotice, useAction } from "../ui.js";

/**
 * SignIn is the operator sign-in form (`POST /v1/operator/login`). An operator with two-factor
 * sign-in on is asked for its code when the plane answers `mfa_required`; the form then sends the
 * password again with `code` (the console keeps neither once signed in).
 */
export function SignIn() {
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [code, setCode] = useState("");
  const [needCode, setNeedCode] = useState(false);
  const { busy, problem, run } = useAction();
  const reason = signOutReason.value;

  const submit = async (e: Event) => {
    e.preventDefault();
    await run(async () => {
      const body = needCode ? { email, password, code: code.trim() } : { email, password };
      let login: Awaited<ReturnType<typeof signInCall>>;
      try {
        login = await signInCall(body);
      } catch (err) {
        if (err instanceof BaseplateProblem && err.code === "mfa_required") {
          setNeedCode(true);
          return;
        }
        throw err;
      }
      if (!login.token) throw new Error("The plane answered without a session token.");
      startSession({
        token: login.token,
        tokenId: login.id,
        operator: {
          id: login.operator.id,
          email: login.operator.email,
          name: login.operator.name,
          role: login.operator.role,
        },
        expiresAt: login.expiresAt,
      });
    });
  };
  const back = () => {
    setNeedCode(false);
    setCode("");
  };

  return (
    <main class="sign-in">
      <div class="sign-in-card">
        <p class="brand brand-large">
          <span class="brand-mark" aria-hidden="true" />
          Baseplate
        </p>
        <h1>Operator console</h1>
        <p class="muted">Sign in with your operator account.</p>
        {reason && (
          <p class="notice notice-info" role="status">
            {reason}
          </p>
        )}
        {problem && <ProblemNotice problem={problem} />}
        {needCode ? (
          <form onSubmit={submit} aria-describedby="code-help">
            <p id="code-help">
              Two-factor sign-in is on for <strong>{email}</strong>: enter the 6-digit code of your authenticator app,
              or one of your recovery codes.
            </p>
            <label for="code">Authentication code</label>
            <input
              id="code"
              name="code"
              type="text"
              inputMode="numeric"
              autocomplete="one-time-code"
              required
              autofocus
              maxLength={64}
              value={code}
              onInput={(e) => setCode(e.currentTarget.value)}
            />
            <button type="submit" class="button button-primary button-block" disabled={busy}>
              {busy ? "Checking…" : "Verify"}
            </button>
            <button type="button" class="button button-block" onClick={back}>
              Back
            </button>
          </form>
        ) : (
          <form onSubmit={submit} aria-describedby="sign-in-help">
            <label for="email">Email</label>
            <input
              id="email"
              name="email"
              type="email"
              autocomplete="username"
              required
              autofocus
              value={email}
              onInput={(e) => setEmail(e.currentTarget.value)}
            />
            <label for="password">Password</label>
            <input
              id="password"
              name="password"
              type="password"
              autocomplete="current-password"
              required
              value={password}
              onInput={(e) => setPassword(e.currentTarget.value)}
            />
            <button type="submit" class="button button-primary button-block" disabled={busy}>
              {busy ? "Signing in…" : "Sign in"}
            </button>
          </form>
        )}
        <p id="sign-in-help" class="muted small">
          No operator yet? Run <code>npx --no-install baseplate init</code> in the plane's repository.
        </p>
      </div>
    </main>
  );
}

function signInCall(body: { email: string; password: string; code?: string }) {
  return unwrap(anonymous.POST("/v1/operator/login", { body }));
}
