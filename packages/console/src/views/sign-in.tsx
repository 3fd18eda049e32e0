import { unwrap } from "@baseplate/sdk";
import { useState } from "preact/hooks";
import { anonymous } from "../api.js";
import { signOutReason, startSession } from "../session.js";
import { ProblemNotice, useAction } from "../ui.js";

/** SignIn is the operator sign-in form (`POST /v1/operator/login`). */
export function SignIn() {
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const { busy, problem, run } = useAction();
  const reason = signOutReason.value;

  const submit = async (e: Event) => {
    e.preventDefault();
    await run(async () => {
      const login = await unwrap(anonymous.POST("/v1/operator/login", { body: { email, password } }));
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
        <p id="sign-in-help" class="muted small">
          No operator yet? Run <code>npx --no-install baseplate init</code> in the plane's repository.
        </p>
      </div>
    </main>
  );
}
