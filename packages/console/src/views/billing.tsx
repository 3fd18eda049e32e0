import { type Baseplate, unwrap } from "@baseplate/sdk";
import { useEffect, useRef, useState } from "preact/hooks";
import { inEnvironment } from "../api.js";
import { InvoiceTable } from "../invoices.js";
import { InEnvironment } from "../lists.js";
import { LoadMore, usePaged, useScope } from "../scoped.js";
import { Badge, Empty, Fields, money, PageHeader, ProblemNotice, Show, Time, useAction, useLoad } from "../ui.js";
import { UsagePanel } from "./usage.js";

/**
 * Billing: the environment's plans (its configuration, `GET /v1/billing/plans`). Subscriptions and
 * invoices are each tenant's: `TenantBilling` shows them on the tenant's page, with its limits, its
 * usage over time and its open holds, under support access.
 */
export function Billing() {
  return (
    <>
      <PageHeader
        title="Billing"
        subtitle="The environment's plans. A tenant's subscription, invoices and limits are on its page."
      />
      <InEnvironment>{(id) => <Plans key={id} client={inEnvironment(id)} />}</InEnvironment>
    </>
  );
}

function Plans({ client }: { client: Baseplate }) {
  const [plans, reload] = useLoad(
    (signal) => unwrap(client.GET("/v1/billing/plans", { params: { query: { limit: 100 } }, signal })),
    [client],
  );
  return (
    <Show state={plans} what="plans" retry={reload}>
      {(page) =>
        page.data.length === 0 ? (
          <Empty>
            No plans yet: a plan prices a subscription (<code>POST /v1/billing/plans</code>).
          </Empty>
        ) : (
          <table class="table">
            <caption>Plans</caption>
            <thead>
              <tr>
                <th scope="col">Plan</th>
                <th scope="col">Version</th>
                <th scope="col">Interval</th>
                <th scope="col">Fixed fee</th>
                <th scope="col">Metered charges</th>
                <th scope="col">Trial</th>
              </tr>
            </thead>
            <tbody>
              {page.data.map((p) => {
                const v = p.currentVersion;
                return (
                  <tr key={p.id}>
                    <td>
                      <strong>{p.name}</strong> <code>{p.key}</code> {p.archivedAt && <Badge>archived</Badge>}
                      {p.description && <div class="muted small">{p.description}</div>}
                    </td>
                    <td>v{v.version}</td>
                    <td>{v.interval}</td>
                    <td>
                      {v.fixedFee} {v.currency}
                    </td>
                    <td>
                      {v.charges.length === 0 ? (
                        <span class="muted">—</span>
                      ) : (
                        <ul class="plain-list">
                          {v.charges.map((c) => (
                            <li key={`${c.meterId}${c.model}`}>
                              {c.description ?? c.model} <span class="muted">({c.model})</span>
                            </li>
                          ))}
                        </ul>
                      )}
                    </td>
                    <td>{v.trialDays ? `${v.trialDays} days` : <span class="muted">—</span>}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        )
      }
    </Show>
  );
}

/** TenantBilling: a tenant's limits and current period, usage over time, holds, subscriptions and invoices. */
export function TenantBilling({ tenantId }: { tenantId: string }) {
  // biome-ignore lint/style/noNonNullAssertion: rendered only with an environment.
  const scope = useScope()!;
  const [meters] = useLoad(
    (signal) => unwrap(scope.api.GET("/v1/usage/meters", { params: { query: { limit: 100 } }, signal })),
    [scope.envId],
  );
  return (
    <>
      <Limits tenantId={tenantId} />
      {meters.status === "ok" && meters.data.data.length > 0 && (
        <UsagePanel client={scope.api} meters={meters.data.data} tenantId={tenantId} />
      )}
      <Holds tenantId={tenantId} />
      <Subscriptions tenantId={tenantId} />
      <Invoices tenantId={tenantId} />
    </>
  );
}

/** Limits: the tenant's entitlements with each metered one's use, and the period's charges so far. */
function Limits({ tenantId }: { tenantId: string }) {
  // biome-ignore lint/style/noNonNullAssertion: rendered only with an environment.
  const scope = useScope()!;
  const [state, reload] = useLoad(
    (signal) =>
      unwrap(scope.api.GET("/v1/tenants/{tenantId}/billing/usage", { params: { path: { tenantId } }, signal })),
    [scope.envId, tenantId],
  );
  return (
    <section aria-labelledby="limits-title">
      <h2 id="limits-title">Limits and current period</h2>
      <Show state={state} what="limits" retry={reload}>
        {(u) => (
          <>
            {u.limits.length === 0 ? (
              <Empty>No entitlements: nothing limits this tenant.</Empty>
            ) : (
              <table class="table">
                <caption class="visually-hidden">Limits</caption>
                <thead>
                  <tr>
                    <th scope="col">Feature</th>
                    <th scope="col">Use</th>
                    <th scope="col">Held</th>
                    <th scope="col">Remaining</th>
                    <th scope="col">Resets</th>
                  </tr>
                </thead>
                <tbody>
                  {u.limits.map((l) => (
                    <tr key={l.feature}>
                      <td>
                        <code>{l.feature}</code> {!l.enabled && <Badge tone="bad">disabled</Badge>}
                      </td>
                      <td>
                        {l.kind === "boolean" ? (
                          <Badge tone={l.enabled ? "good" : "bad"}>{l.enabled ? "included" : "off"}</Badge>
                        ) : (
                          <span class="usage-bar">
                            <meter
                              min={0}
                              max={l.limit ?? 0}
                              value={l.used ?? 0}
                              high={(l.limit ?? 0) * 0.8}
                              optimum={0}
                              aria-label={`${l.feature}: ${l.used ?? 0} of ${l.limit ?? 0} used`}
                            />{" "}
                            {l.used ?? 0} / {l.limit ?? "—"} <span class="muted">({l.meter})</span>
                          </span>
                        )}
                      </td>
                      <td>{l.kind === "metered" ? (l.held ?? 0) : <span class="muted">—</span>}</td>
                      <td>{l.kind === "metered" ? (l.remaining ?? "—") : <span class="muted">—</span>}</td>
                      <td>
                        <Time iso={l.resetsAt} />
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
            {u.subscriptionId ? (
              <section class="card">
                <h3>
                  Billing period <Time iso={u.periodStart} /> – <Time iso={u.periodEnd} />
                </h3>
                {u.charges.length === 0 ? (
                  <p class="muted">The plan has no metered charges.</p>
                ) : (
                  <Fields
                    rows={u.charges.map((c): [string, string] => [
                      c.description,
                      `${c.used} used · ${c.billableQuantity} billable · ${money(c.total, u.currency)} so far`,
                    ])}
                  />
                )}
              </section>
            ) : (
              <p class="muted">No live subscription.</p>
            )}
          </>
        )}
      </Show>
    </section>
  );
}

/** Holds: what the tenant has reserved against its limits (open ones by default). */
function Holds({ tenantId }: { tenantId: string }) {
  // biome-ignore lint/style/noNonNullAssertion: rendered only with an environment.
  const scope = useScope()!;
  const [all, setAll] = useState(false);
  const list = usePaged(
    (cursor, signal) =>
      unwrap(
        scope.api.GET("/v1/usage/holds", {
          params: {
            query: { tenantId, limit: 25, ...(all ? {} : { status: "open" as const }), ...(cursor ? { cursor } : {}) },
          },
          signal,
        }),
      ),
    [scope.envId, tenantId, all],
  );
  return (
    <section aria-labelledby="holds-title">
      <h2 id="holds-title">Holds</h2>
      <label class="checkbox">
        <input type="checkbox" checked={all} onChange={(e) => setAll(e.currentTarget.checked)} /> Show ended holds too
      </label>
      <Show state={list.state} what="holds" retry={list.reload}>
        {() =>
          list.items.length === 0 ? (
            <Empty>{all ? "No holds." : "No open holds: nothing is reserved against this tenant's limits."}</Empty>
          ) : (
            <>
              <table class="table">
                <caption class="visually-hidden">Holds</caption>
                <thead>
                  <tr>
                    <th scope="col">Feature</th>
                    <th scope="col">Amount</th>
                    <th scope="col">Status</th>
                    <th scope="col">Expires</th>
                    <th scope="col">Created</th>
                  </tr>
                </thead>
                <tbody>
                  {list.items.map((h) => (
                    <tr key={h.id}>
                      <td>
                        <code>{h.feature}</code>
                      </td>
                      <td>
                        {h.amount}
                        {h.committedAmount !== null && <span class="muted"> (used {h.committedAmount})</span>}
                      </td>
                      <td>
                        <Badge tone={h.status === "open" ? "warn" : h.status === "committed" ? "good" : "neutral"}>
                          {h.status}
                        </Badge>
                      </td>
                      <td>
                        <Time iso={h.expiresAt} />
                      </td>
                      <td>
                        <Time iso={h.createdAt} />
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
              {list.more.problem && <ProblemNotice problem={list.more.problem} />}
              <LoadMore hasMore={list.hasMore} busy={list.more.busy} onClick={list.loadMore} />
            </>
          )
        }
      </Show>
    </section>
  );
}

function Subscriptions({ tenantId }: { tenantId: string }) {
  // biome-ignore lint/style/noNonNullAssertion: rendered only with an environment.
  const scope = useScope()!;
  const list = usePaged(
    (cursor, signal) =>
      unwrap(
        scope.api.GET("/v1/tenants/{tenantId}/billing/subscriptions", {
          params: { path: { tenantId }, query: { limit: 20, ...(cursor ? { cursor } : {}) } },
          signal,
        }),
      ),
    [scope.envId, tenantId],
  );
  // The plans, to name each subscription's (the environment's configuration: no support access needed).
  const [plans] = useLoad(
    (signal) => unwrap(scope.api.GET("/v1/billing/plans", { params: { query: { limit: 100 } }, signal })),
    [scope.envId],
  );
  const planName = (id: string) => (plans.status === "ok" ? plans.data.data.find((p) => p.id === id)?.name : undefined);
  const tone = (s: string) =>
    s === "active" ? "good" : s === "past_due" ? "bad" : s === "trialing" ? "warn" : "neutral";
  return (
    <section aria-labelledby="subscriptions-title">
      <h2 id="subscriptions-title">Subscriptions</h2>
      <Show state={list.state} what="subscriptions" retry={list.reload}>
        {() =>
          list.items.length === 0 ? (
            <Empty>No subscriptions.</Empty>
          ) : (
            <>
              <table class="table">
                <caption class="visually-hidden">Subscriptions</caption>
                <thead>
                  <tr>
                    <th scope="col">Plan</th>
                    <th scope="col">Status</th>
                    <th scope="col">Current period</th>
                    <th scope="col">Ends</th>
                  </tr>
                </thead>
                <tbody>
                  {list.items.map((s) => (
                    <tr key={s.id}>
                      <td>
                        {planName(s.planId) ?? <code>{s.planId}</code>}{" "}
                        {s.testClockId && <Badge tone="warn">test clock</Badge>}
                      </td>
                      <td>
                        <Badge tone={tone(s.status)}>{s.status.replace("_", " ")}</Badge>
                      </td>
                      <td>
                        <Time iso={s.currentPeriodStart} /> – <Time iso={s.currentPeriodEnd} />
                      </td>
                      <td>
                        {s.canceledAt ? (
                          <>
                            canceled <Time iso={s.canceledAt} />
                          </>
                        ) : s.cancelAtPeriodEnd ? (
                          "at period end"
                        ) : (
                          <span class="muted">renews</span>
                        )}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
              <LoadMore hasMore={list.hasMore} busy={list.more.busy} onClick={list.loadMore} />
            </>
          )
        }
      </Show>
    </section>
  );
}

function Invoices({ tenantId }: { tenantId: string }) {
  // biome-ignore lint/style/noNonNullAssertion: rendered only with an environment.
  const scope = useScope()!;
  const list = usePaged(
    (cursor, signal) =>
      unwrap(
        scope.api.GET("/v1/tenants/{tenantId}/billing/invoices", {
          params: { path: { tenantId }, query: { limit: 20, ...(cursor ? { cursor } : {}) } },
          signal,
        }),
      ),
    [scope.envId, tenantId],
  );
  return (
    <section aria-labelledby="invoices-title">
      <h2 id="invoices-title">Invoices</h2>
      <Show state={list.state} what="invoices" retry={list.reload}>
        {() =>
          list.items.length === 0 ? (
            <Empty>No invoices yet.</Empty>
          ) : (
            <>
              <InvoiceTable
                invoices={list.items}
                document={(i) => <InvoicePdf tenantId={tenantId} invoiceId={i.id} name={i.number ?? i.id} />}
              />
              <LoadMore hasMore={list.hasMore} busy={list.more.busy} onClick={list.loadMore} />
            </>
          )
        }
      </Show>
    </section>
  );
}

/**
 * InvoicePdf fetches an invoice's PDF with the operator's credential (the plane answers it to
 * authenticated calls only) and offers it as a `blob:` link to save; the URL is revoked when the
 * view goes away.
 */
function InvoicePdf({ tenantId, invoiceId, name }: { tenantId: string; invoiceId: string; name: string }) {
  // biome-ignore lint/style/noNonNullAssertion: rendered only with an environment.
  const scope = useScope()!;
  const action = useAction();
  const [url, setUrl] = useState<string | null>(null);
  const current = useRef<string | null>(null);
  useEffect(
    () => () => {
      if (current.current) URL.revokeObjectURL(current.current);
    },
    [],
  );
  const fetchPdf = () =>
    action.run(async () => {
      const pdf = await unwrap(
        scope.api.GET("/v1/tenants/{tenantId}/billing/invoices/{invoiceId}/pdf", {
          params: { path: { tenantId, invoiceId } },
          parseAs: "blob",
        }),
      );
      const blob = pdf as unknown as Blob;
      current.current = URL.createObjectURL(new Blob([blob], { type: "application/pdf" }));
      setUrl(current.current);
    });
  if (url) {
    return (
      <a class="button button-small" href={url} download={`invoice-${name.replace(/[^\w.-]+/g, "_")}.pdf`}>
        Save PDF
      </a>
    );
  }
  return (
    <>
      <button type="button" class="button button-small" disabled={action.busy} onClick={() => void fetchPdf()}>
        {action.busy ? "Preparing…" : "PDF"}
      </button>
      {action.problem && <ProblemNotice problem={action.problem} />}
    </>
  );
}
