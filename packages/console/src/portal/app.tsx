import { type components, unwrap } from "@baseplate/sdk";
import { useEffect, useRef, useState } from "preact/hooks";
import { asProblem } from "../api.js";
import { Loading, Show, useLoad } from "../ui.js";
import { ended, endSession, exchange, portal, portalSession, rememberReturnUrl, startSession } from "./api.js";
import { AuditSection } from "./audit.js";
import { BillingSection, UsageSection } from "./billing.js";
import { KeysSection } from "./keys.js";
import { MembersSection } from "./members.js";
import { ReviewSection } from "./review.js";
import { SupportSection } from "./support.js";
import { WebhooksSection } from "./webhooks.js";

export type PortalContext = components["schemas"]["PortalContext"];
type Feature = PortalContext["features"][number];

const SECTIONS: Record<Feature, string> = {
  webhooks: "Webhooks",
  audit: "Audit log",
  keys: "API keys",
  members: "Members",
  usage: "Usage",
  billing: "Billing",
  support: "Support access",
  review: "Security review",
};

/**
 * PortalApp: the tenant portal. It exchanges the link's token (once) for a portal session, then
 * draws the tenant's sections with the surface's theme. Every call goes through the public API
 * with the session's token; the plane confines it to the tenant.
 */
export function PortalApp({ linkToken }: { linkToken: string | null }) {
  const [opening, setOpening] = useState<"idle" | "opening" | "failed">(linkToken ? "opening" : "idle");
  const [failure, setFailure] = useState<string | null>(null);
  const started = useRef(false);
  useEffect(() => {
    if (!linkToken || started.current) return;
    started.current = true;
    unwrap(exchange.POST("/v1/portal/sessions", { body: { token: linkToken } })).then(
      (s) => {
        startSession({ token: s.token ?? "", expiresAt: s.expiresAt, returnUrl: null });
        setOpening("idle");
      },
      (err) => {
        const problem = asProblem(err);
        setFailure(problem.status === 401 ? problem.detail : `${problem.title}: ${problem.detail}`);
        setOpening("failed");
      },
    );
  }, [linkToken]);

  if (opening === "opening") {
    return (
      <main class="portal-center">
        <Loading what="the portal" />
      </main>
    );
  }
  if (ended.value) return <Closed reason={ended.value.reason} returnUrl={ended.value.returnUrl} />;
  if (opening === "failed" || !portalSession.value) {
    return <Closed reason="expired" returnUrl={null} detail={failure ?? "Open the portal again from the product."} />;
  }
  return <Portal />;
}

/** Closed is the screen of a portal that cannot open: an expired or used link, an ended session. */
function Closed({
  reason,
  returnUrl,
  detail,
}: {
  reason: "expired" | "signed_out";
  returnUrl: string | null;
  detail?: string;
}) {
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => heading.current?.focus(), []);
  return (
    <main class="portal-center">
      <div class="card portal-closed">
        <h1 ref={heading} tabIndex={-1}>
          {reason === "signed_out" ? "You left the portal" : "This portal link has expired"}
        </h1>
        <p>
          {detail ??
            (reason === "signed_out"
              ? "Your portal session is closed."
              : "Portal links and sessions are short-lived. Open the portal again from the product to continue.")}
        </p>
        {returnUrl ? (
          <a class="button button-primary" href={returnUrl} rel="noreferrer">
            Return to the product
          </a>
        ) : (
          <button type="button" class="button" onClick={() => history.back()}>
            Go back
          </button>
        )}
      </div>
    </main>
  );
}

/** applyTheme sets the surface's colours as the stylesheet's variables (CSSOM: no inline style). */
function applyTheme(theme: PortalContext["theme"]): void {
  const root = document.documentElement.style;
  if (theme.primaryColor) {
    root.setProperty("--accent", theme.primaryColor);
    root.setProperty("--accent-strong", theme.primaryColor);
    root.setProperty("--focus", theme.primaryColor);
  }
  if (theme.accentColor) root.setProperty("--brand", theme.accentColor);
  if (theme.name) document.title = `${theme.name} · Admin portal`;
}

function Portal() {
  const [state, reload] = useLoad((signal) => unwrap(portal.GET("/v1/portal/context", { signal })), []);
  useEffect(() => {
    if (state.status !== "ok") return;
    applyTheme(state.data.theme);
    rememberReturnUrl(state.data.returnUrl);
  }, [state]);
  if (state.status !== "ok") {
    return (
      <main class="portal-center">
        <Show state={state} what="the portal" retry={reload}>
          {() => null}
        </Show>
      </main>
    );
  }
  return <PortalShell context={state.data} />;
}

function PortalShell({ context }: { context: PortalContext }) {
  const features = context.features;
  const [current, setCurrent] = useState<Feature>(features[0] ?? "webhooks");
  const [leaving, setLeaving] = useState(false);
  const main = useRef<HTMLElement>(null);
  const choose = (f: Feature) => {
    setCurrent(f);
    requestAnimationFrame(() => main.current?.querySelector("h1")?.focus());
  };
  const signOut = async () => {
    setLeaving(true);
    try {
      await unwrap(portal.DELETE("/v1/portal/sessions/current"));
    } catch (err) {
      // An already-ended session is what the admin asked for.
      if (asProblem(err).status !== 401) {
        setLeaving(false);
        return;
      }
    }
    endSession("signed_out");
  };
  const tenantId = context.tenant.id;
  return (
    <div class="shell portal-shell">
      <a class="skip-link" href="#portal-main">
        Skip to content
      </a>
      <header class="topbar">
        <span class="brand">
          {context.theme.logoUrl ? (
            <img class="portal-logo" src={context.theme.logoUrl} alt="" referrerpolicy="no-referrer" />
          ) : (
            <span class="brand-mark" aria-hidden="true" />
          )}
          <span>{context.theme.name ?? "Admin portal"}</span>
          <span class="brand-sub">{context.tenant.name}</span>
        </span>
        <div class="whoami">
          {(context.actor.name || context.actor.email) && (
            <span class="portal-actor">{context.actor.name ?? context.actor.email}</span>
          )}
          {context.returnUrl && (
            <a class="button button-small" href={context.returnUrl} rel="noreferrer">
              Back to the product
            </a>
          )}
          <button type="button" class="button button-small" disabled={leaving} onClick={signOut}>
            Sign out
          </button>
        </div>
      </header>
      <nav class="sidebar" aria-label="Portal sections">
        <ul>
          {features.map((f) => (
            <li key={f}>
              <a
                href={`#${f}`}
                class={f === current ? "active" : ""}
                aria-current={f === current ? "page" : undefined}
                onClick={(e) => {
                  e.preventDefault();
                  choose(f);
                }}
              >
                {SECTIONS[f]}
              </a>
            </li>
          ))}
        </ul>
        <p class="muted small portal-expiry">
          Session ends at <time dateTime={context.expiresAt}>{new Date(context.expiresAt).toLocaleTimeString()}</time>.
        </p>
      </nav>
      <main id="portal-main" class="content" ref={main}>
        {current === "webhooks" && <WebhooksSection />}
        {current === "audit" && <AuditSection tenantId={tenantId} />}
        {current === "keys" && <KeysSection tenantId={tenantId} />}
        {current === "members" && <MembersSection tenantId={tenantId} />}
        {current === "usage" && <UsageSection tenantId={tenantId} />}
        {current === "billing" && <BillingSection tenantId={tenantId} />}
        {current === "support" && <SupportSection tenantId={tenantId} />}
        {current === "review" && <ReviewSection tenantId={tenantId} />}
      </main>
    </div>
  );
}
