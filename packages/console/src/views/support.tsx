import { type components, unwrap } from "@baseplate/sdk";
import type { ComponentChildren } from "preact";
import { useState } from "preact/hooks";
import { Link } from "../router.js";
import { GrantAccess, LoadMore, NoEnvironment, usePaged, useScope } from "../scoped.js";
import { session } from "../session.js";
import { Badge, Empty, PageHeader, ProblemNotice, Show, Time, useAction, useLoad } from "../ui.js";

type SupportAccess = components["schemas"]["SupportAccess"];

const TONE: Record<SupportAccess["status"], "good" | "warn" | "neutral" | "bad"> = {
  active: "good",
  pending: "warn",
  expired: "neutral",
  ended: "neutral",
  denied: "bad",
};

export function SupportStatus({ status }: { status: SupportAccess["status"] }) {
  return <Badge tone={TONE[status]}>{status}</Badge>;
}

/**
 * SupportGate guards a tenant's own data in the console: an operator sees members, keys and the
 * tenant's audit only under support access it asked for (with a reason, for a time), which the
 * tenant's owners see and, by their policy, approve. Without one it offers the request; with a
 * pending one, the wait; with an active one, its terms and "End now", then `children(access)`.
 */
export function SupportGate({
  tenantId,
  children,
}: {
  tenantId: string;
  children: (access: SupportAccess) => ComponentChildren;
}) {
  const scope = useScope();
  const me = session.value?.operator.id;
  const [generation, setGeneration] = useState(0);
  const [state, reload] = useLoad(
    async (signal) => {
      if (!scope || !me) throw new Error("no environment");
      const page = await unwrap(
        scope.api.GET("/v1/support-access", {
          params: { query: { tenantId, operatorId: me, limit: 20 } },
          signal,
        }),
      );
      const live = page.data.filter((a) => a.status === "active" || a.status === "pending");
      // The broadest live access first: write before read, active before pending.
      live.sort((a, b) => rank(b) - rank(a));
      return live[0] ?? null;
    },
    [scope?.envId, tenantId, me, generation],
  );
  const changed = () => setGeneration((g) => g + 1);
  return (
    <Show state={state} what="your support access" retry={reload}>
      {(access) =>
        access?.status === "active" ? (
          <>
            <ActiveAccess access={access} onChange={changed} />
            <GrantAccess.Provider value={access.access === "write" ? "write" : "read"}>
              {children(access)}
            </GrantAccess.Provider>
          </>
        ) : access?.status === "pending" ? (
          <PendingAccess access={access} onChange={changed} />
        ) : (
          <RequestAccess tenantId={tenantId} onDone={changed} />
        )
      }
    </Show>
  );
}

function rank(a: SupportAccess): number {
  return (a.status === "active" ? 2 : 0) + (a.access === "write" ? 1 : 0);
}

/** useEnd ends (or withdraws) the operator's own access, then calls `onChange`. */
function useEnd(access: SupportAccess, onChange: () => void) {
  const scope = useScope();
  const action = useAction();
  const end = async () => {
    if (!scope) return;
    const ok = await action.run(() =>
      unwrap(
        scope.api.POST("/v1/support-access/{supportAccessId}/end", {
          params: { path: { supportAccessId: access.id } },
        }),
      ),
    );
    if (ok) onChange();
  };
  return { action, end };
}

function ActiveAccess({ access, onChange }: { access: SupportAccess; onChange: () => void }) {
  const { action, end } = useEnd(access, onChange);
  return (
    <div class="notice notice-info" role="status" aria-label="Support access">
      <p class="notice-title">
        Support access ({access.access === "write" ? "read and write" : "read only"}) until{" "}
        <Time iso={access.expiresAt} />
      </p>
      <p>Reason: {access.reason}. The tenant sees this access and everything you do under it in its audit log.</p>
      {action.problem && <ProblemNotice problem={action.problem} />}
      <button type="button" class="button" onClick={end} disabled={action.busy}>
        {action.busy ? "Ending…" : "End support access now"}
      </button>
    </div>
  );
}

function PendingAccess({ access, onChange }: { access: SupportAccess; onChange: () => void }) {
  const { action, end: withdraw } = useEnd(access, onChange);
  return (
    <section class="card" aria-labelledby="support-pending-title">
      <h2 id="support-pending-title">Waiting for the tenant's approval</h2>
      <p>
        This tenant requires its owners to approve support access. You asked for {access.access} access for{" "}
        {access.durationMinutes} minutes at <Time iso={access.requestedAt} />: “{access.reason}”.
      </p>
      {action.problem && <ProblemNotice problem={action.problem} />}
      <div class="form-actions">
        <button type="button" class="button" onClick={onChange}>
          Check again
        </button>
        <button type="button" class="button" onClick={withdraw} disabled={action.busy}>
          Withdraw the request
        </button>
      </div>
    </section>
  );
}

const DURATIONS = [15, 30, 60, 120, 240, 480];

function RequestAccess({ tenantId, onDone }: { tenantId: string; onDone: () => void }) {
  const scope = useScope();
  const admin = session.value?.operator.role === "admin";
  const [reason, setReason] = useState("");
  const [access, setAccess] = useState<"read" | "write">("read");
  const [minutes, setMinutes] = useState(60);
  const action = useAction();
  const submit = async (e: Event) => {
    e.preventDefault();
    if (!scope) return;
    const ok = await action.run(() =>
      unwrap(
        scope.api.POST("/v1/support-access", {
          body: { tenantId, reason: reason.trim(), access, durationMinutes: minutes },
        }),
      ),
    );
    if (ok) onDone();
  };
  return (
    <section class="card" aria-labelledby="support-request-title">
      <h2 id="support-request-title">Support access</h2>
      <p>
        The tenant's members, keys and audit log are the tenant's own: operators see them under support access, asked
        for with a reason and for a limited time. The tenant's owners see the request and everything done under it, and
        approve it first when their policy requires it.
      </p>
      <form onSubmit={submit} class="form">
        {action.problem && <ProblemNotice problem={action.problem} />}
        <label for="support-reason">Reason</label>
        <textarea
          id="support-reason"
          required
          minLength={10}
          maxLength={500}
          rows={2}
          placeholder="Ticket 4711: the customer's invoices are missing"
          value={reason}
          onInput={(e) => setReason(e.currentTarget.value)}
        />
        <label for="support-access-kind">Access</label>
        <select
          id="support-access-kind"
          value={access}
          onChange={(e) => setAccess(e.currentTarget.value as "read" | "write")}
        >
          <option value="read">Read only</option>
          {admin && <option value="write">Read and write</option>}
        </select>
        <label for="support-duration">For</label>
        <select id="support-duration" value={minutes} onChange={(e) => setMinutes(Number(e.currentTarget.value))}>
          {DURATIONS.map((m) => (
            <option key={m} value={m}>
              {m < 60 ? `${m} minutes` : `${m / 60} hour${m === 60 ? "" : "s"}`}
            </option>
          ))}
        </select>
        <div class="form-actions">
          <button type="submit" class="button button-primary" disabled={action.busy}>
            {action.busy ? "Asking…" : "Ask for support access"}
          </button>
        </div>
      </form>
    </section>
  );
}

/** SupportAccessLog lists the environment's support access: who asked for which tenant, why, and its fate. */
export function SupportAccessLog() {
  const scope = useScope();
  const [status, setStatus] = useState<"" | SupportAccess["status"]>("");
  const list = usePaged(
    (cursor, signal) =>
      unwrap(
        // biome-ignore lint/style/noNonNullAssertion: rendered only with an environment.
        scope!.api.GET("/v1/support-access", {
          params: { query: { limit: 50, ...(status ? { status } : {}), ...(cursor ? { cursor } : {}) } },
          signal,
        }),
      ),
    [scope?.envId, status],
  );
  if (!scope)
    return (
      <>
        <PageHeader title="Support access" />
        <NoEnvironment />
      </>
    );
  return (
    <>
      <PageHeader title="Support access" subtitle="Operators' time-boxed access to tenants, newest first" />
      <div class="filters">
        <label for="support-status">Status</label>
        <select
          id="support-status"
          value={status}
          onChange={(e) => setStatus(e.currentTarget.value as "" | SupportAccess["status"])}
        >
          <option value="">Any</option>
          {(["active", "pending", "expired", "ended", "denied"] as const).map((s) => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </select>
      </div>
      <Show state={list.state} what="support access" retry={list.reload}>
        {() =>
          list.items.length === 0 ? (
            <Empty>No support access yet.</Empty>
          ) : (
            <>
              <table class="table">
                <thead>
                  <tr>
                    <th scope="col">Tenant</th>
                    <th scope="col">Operator</th>
                    <th scope="col">Reason</th>
                    <th scope="col">Access</th>
                    <th scope="col">Status</th>
                    <th scope="col">Asked</th>
                    <th scope="col">Until</th>
                  </tr>
                </thead>
                <tbody>
                  {list.items.map((a) => (
                    <tr key={a.id}>
                      <td>
                        <Link href={`/tenants/${a.tenantId}`}>
                          <code>{a.tenantId}</code>
                        </Link>
                      </td>
                      <td>{a.operatorName ?? <code>{a.operatorId}</code>}</td>
                      <td>{a.reason}</td>
                      <td>{a.access}</td>
                      <td>
                        <SupportStatus status={a.status} />
                      </td>
                      <td>
                        <Time iso={a.requestedAt} />
                      </td>
                      <td>
                        <Time iso={a.endedAt ?? a.expiresAt} />
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
    </>
  );
}
