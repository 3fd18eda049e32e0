import type { ComponentType } from "preact";
import { useEffect } from "preact/hooks";
import { plane } from "./api.js";
import { ContextSwitcher } from "./context-switcher.js";
import { Link, match, navigate, path } from "./router.js";
import { endSession, session } from "./session.js";
import { PageHeader } from "./ui.js";
import { Audit } from "./views/audit.js";
import { AuditSigning } from "./views/audit-signing.js";
import { Billing } from "./views/billing.js";
import { Configuration } from "./views/configuration.js";
import { EnvironmentDetail, Environments } from "./views/environments.js";
import { Events } from "./views/events.js";
import { Operators } from "./views/operators.js";
import { ProjectDetail, Projects } from "./views/projects.js";
import { Review } from "./views/review.js";
import { SecretKeys } from "./views/secret-keys.js";
import { SignIn } from "./views/sign-in.js";
import { SupportAccessLog } from "./views/support.js";
import { TenantDetail, Tenants } from "./views/tenants.js";
import { Tokens } from "./views/tokens.js";
import { TwoFactor } from "./views/two-factor.js";
import { Usage } from "./views/usage.js";
import { UserDetail, Users } from "./views/users.js";
import { WebhookEndpoint, Webhooks } from "./views/webhooks.js";

// biome-ignore lint/suspicious/noExplicitAny: each view declares its own route parameters.
type View = ComponentType<any>;

/** ROUTES: the console's views, by path pattern (first match wins). */
const ROUTES: Array<[string, View]> = [
  ["/projects", Projects],
  ["/projects/:projectId", ProjectDetail],
  ["/environments", Environments],
  ["/environments/:environmentId", EnvironmentDetail],
  ["/operators", Operators],
  ["/tokens", Tokens],
  ["/two-factor", TwoFactor],
  ["/audit-signing", AuditSigning],
  ["/tenants", Tenants],
  ["/tenants/:tenantId", TenantDetail],
  ["/users", Users],
  ["/users/:userId", UserDetail],
  ["/secret-keys", SecretKeys],
  ["/audit", Audit],
  ["/events", Events],
  ["/webhooks", Webhooks],
  ["/webhooks/:endpointId", WebhookEndpoint],
  ["/usage", Usage],
  ["/billing", Billing],
  ["/support-access", SupportAccessLog],
  ["/review", Review],
  ["/configuration", Configuration],
];

/**
 * NAV: the navigation, in groups. The "In this environment" group's views act in the environment chosen in
 * the header: their calls go through `inEnvironment(environmentId)`.
 */
const NAV: Array<{ group: string; items: Array<{ href: string; label: string }> }> = [
  {
    group: "Plane",
    items: [
      { href: "/projects", label: "Projects" },
      { href: "/environments", label: "Environments" },
      { href: "/operators", label: "Operators" },
      { href: "/audit-signing", label: "Audit signing" },
    ],
  },
  {
    group: "In this environment",
    items: [
      { href: "/tenants", label: "Tenants" },
      { href: "/users", label: "Users" },
      { href: "/secret-keys", label: "Secret keys" },
      { href: "/audit", label: "Audit log" },
      { href: "/events", label: "Events" },
      { href: "/webhooks", label: "Webhooks" },
      { href: "/usage", label: "Usage" },
      { href: "/billing", label: "Billing" },
      { href: "/support-access", label: "Support access" },
      { href: "/configuration", label: "Configuration" },
      { href: "/review", label: "Review report" },
    ],
  },
  {
    group: "Your account",
    items: [
      { href: "/tokens", label: "API tokens" },
      { href: "/two-factor", label: "Two-factor sign-in" },
    ],
  },
];

function NotFound() {
  return (
    <>
      <PageHeader title="Page not found" />
      <p>
        Nothing lives at <code>{path.value}</code>. <Link href="/projects">Go to projects</Link>.
      </p>
    </>
  );
}

function route(p: string): { View: View; params: Record<string, string> } {
  for (const [pattern, View] of ROUTES) {
    const params = match(pattern, p);
    if (params) return { View, params };
  }
  return { View: NotFound, params: {} };
}

async function signOut() {
  // Revoke the session on the plane; forget it here whatever the answer.
  await plane
    .POST("/v1/operator/tokens/{tokenId}/revoke", { params: { path: { tokenId: "current" } } })
    .catch(() => undefined);
  endSession();
}

export function App() {
  const s = session.value;
  const p = path.value;
  useEffect(() => {
    if (s && p === "/") navigate("/projects", true);
  }, [s, p]);
  if (!s) return <SignIn />;
  const { View, params } = route(p);
  return (
    <div class="shell">
      <a class="skip-link" href="#main">
        Skip to content
      </a>
      <header class="topbar">
        <Link href="/projects" class="brand">
          <span class="brand-mark" aria-hidden="true" />
          Baseplate <span class="brand-sub">console</span>
        </Link>
        <ContextSwitcher />
        <div class="whoami">
          <span>
            {s.operator.name} <span class="muted">({s.operator.role})</span>
          </span>
          <button type="button" class="button button-small" onClick={signOut}>
            Sign out
          </button>
        </div>
      </header>
      <nav class="sidebar" aria-label="Console">
        {NAV.map((g) => (
          <div key={g.group} class="nav-group">
            <p class="nav-group-title" id={`nav-${g.group.toLowerCase().replace(/\W+/g, "-")}`}>
              {g.group}
            </p>
            <ul aria-labelledby={`nav-${g.group.toLowerCase().replace(/\W+/g, "-")}`}>
              {g.items.map((item) => {
                const active = p === item.href || p.startsWith(`${item.href}/`);
                return (
                  <li key={item.href}>
                    <Link href={item.href} class={active ? "active" : ""} aria-current={active ? "page" : undefined}>
                      {item.label}
                    </Link>
                  </li>
                );
              })}
            </ul>
          </div>
        ))}
      </nav>
      <main id="main" class="content" tabIndex={-1}>
        <View {...params} />
      </main>
    </div>
  );
}
