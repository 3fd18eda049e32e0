import { unwrap } from "@baseplate/sdk";
import { InvoiceTable } from "../invoices.js";
import { Badge, Empty, Fields, money, PageHeader, Show, Time, useLoad } from "../ui.js";
import { portal } from "./api.js";

/** UsageSection: what the tenant may use (its entitlements: features and metered limits). */
export function UsageSection({ tenantId }: { tenantId: string }) {
  const [state, reload] = useLoad(
    (signal) => unwrap(portal.GET("/v1/tenants/{tenantId}/entitlements", { params: { path: { tenantId } }, signal })),
    [tenantId],
  );
  return (
    <>
      <PageHeader title="Usage" subtitle="What your organisation may use: features and metered limits." />
      <Show state={state} what="entitlements" retry={reload}>
        {(list) =>
          list.data.length === 0 ? (
            <Empty>No limits apply to your organisation.</Empty>
          ) : (
            <table class="table">
              <caption class="visually-hidden">Entitlements</caption>
              <thead>
                <tr>
                  <th scope="col">Feature</th>
                  <th scope="col">Kind</th>
                  <th scope="col">Limit</th>
                  <th scope="col">Enabled</th>
                </tr>
              </thead>
              <tbody>
                {list.data.map((e) => (
                  <tr key={e.id}>
                    <td>
                      <code>{e.feature}</code>
                    </td>
                    <td>{e.kind}</td>
                    <td>
                      {e.limit === null || e.limit === undefined ? "—" : `${e.limit} per ${e.period ?? "period"}`}
                    </td>
                    <td>{e.enabled ? <Badge tone="good">yes</Badge> : <Badge tone="bad">no</Badge>}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )
        }
      </Show>
    </>
  );
}

/** BillingSection: the current period's usage and charges, and the tenant's invoices. */
export function BillingSection({ tenantId }: { tenantId: string }) {
  const [usage, reloadUsage] = useLoad(
    (signal) => unwrap(portal.GET("/v1/tenants/{tenantId}/billing/usage", { params: { path: { tenantId } }, signal })),
    [tenantId],
  );
  const [invoices, reloadInvoices] = useLoad(
    (signal) =>
      unwrap(
        portal.GET("/v1/tenants/{tenantId}/billing/invoices", {
          params: { path: { tenantId }, query: { limit: 50 } },
          signal,
        }),
      ),
    [tenantId],
  );
  return (
    <>
      <PageHeader title="Billing" subtitle="Your current period and your invoices." />
      <Show state={usage} what="the current period" retry={reloadUsage}>
        {(u) =>
          !u.subscriptionId ? (
            <Empty>Your organisation has no subscription.</Empty>
          ) : (
            <section class="card" aria-labelledby="period-title">
              <h2 id="period-title">Current period</h2>
              <Fields
                rows={[
                  ["From", <Time key="from" iso={u.periodStart} />],
                  ["To", <Time key="to" iso={u.periodEnd} />],
                  ...u.charges.map((c): [string, string] => [
                    c.description,
                    `${c.used} used · ${money(c.total, u.currency)}`,
                  ]),
                ]}
              />
            </section>
          )
        }
      </Show>
      <h2 class="section-header">Invoices</h2>
      <Show state={invoices} what="invoices" retry={reloadInvoices}>
        {(page) => (page.data.length === 0 ? <Empty>No invoices yet.</Empty> : <InvoiceTable invoices={page.data} />)}
      </Show>
    </>
  );
}
