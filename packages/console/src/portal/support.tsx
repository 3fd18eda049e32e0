import { type components, unwrap } from "@baseplate/sdk";
import { useState } from "preact/hooks";
import { Badge, Empty, PageHeader, ProblemNotice, Show, Time, useAction, useLoad } from "../ui.js";
import { portal } from "./api.js";

type SupportAccess = components["schemas"]["SupportAccess"];
type Mode = components["schemas"]["SupportPolicy"]["mode"];

const TONE: Record<SupportAccess["status"], "good" | "warn" | "neutral" | "bad"> = {
  active: "good",
  pending: "warn",
  expired: "neutral",
  ended: "neutral",
  denied: "bad",
};

/**
 * SupportSection: the provider's staff who asked to access this organisation's data, why, for how
 * long, and what became of it; approve or deny a pending request, end an active one, and choose
 * whether requests need approval first.
 */
export function SupportSection({ tenantId }: { tenantId: string }) {
  const [generation, setGeneration] = useState(0);
  const changed = () => setGeneration((g) => g + 1);
  const [state, reload] = useLoad(
    async (signal) => {
      const path = { params: { path: { tenantId } }, signal };
      const [policy, list] = await Promise.all([
        unwrap(portal.GET("/v1/tenants/{tenantId}/support-policy", path)),
        unwrap(
          portal.GET("/v1/tenants/{tenantId}/support-access", {
            params: { path: { tenantId }, query: { limit: 100 } },
            signal,
          }),
        ),
      ]);
      return { policy, list };
    },
    [tenantId, generation],
  );
  return (
    <>
      <PageHeader
        title="Support access"
        subtitle="When the provider's staff need to look into your organisation's data, they ask here, with a reason and for a limited time."
      />
      <Show state={state} what="support access" retry={reload}>
        {({ policy, list }) => (
          <>
            <Policy tenantId={tenantId} mode={policy.mode} onChange={changed} />
            {list.data.length === 0 ? (
              <Empty>Nobody has asked for access yet.</Empty>
            ) : (
              <table class="table">
                <caption class="visually-hidden">Support access requests</caption>
                <thead>
                  <tr>
                    <th scope="col">Who</th>
                    <th scope="col">Reason</th>
                    <th scope="col">Access</th>
                    <th scope="col">Status</th>
                    <th scope="col">Asked</th>
                    <th scope="col">Until</th>
                    <th scope="col">
                      <span class="visually-hidden">Actions</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {list.data.map((a) => (
                    <tr key={a.id}>
                      <td>{a.operatorName ?? <code>{a.operatorId}</code>}</td>
                      <td>{a.reason}</td>
                      <td>
                        {a.access === "write" ? "Read and change" : "Read"} · {a.durationMinutes} min
                      </td>
                      <td>
                        <Badge tone={TONE[a.status]}>{a.status}</Badge>
                      </td>
                      <td>
                        <Time iso={a.requestedAt} />
                      </td>
                      <td>
                        <Time iso={a.endedAt ?? a.expiresAt} />
                      </td>
                      <td>
                        <Decide tenantId={tenantId} access={a} onChange={changed} />
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </>
        )}
      </Show>
    </>
  );
}

function Policy({ tenantId, mode, onChange }: { tenantId: string; mode: Mode; onChange: () => void }) {
  const action = useAction();
  const set = async (next: Mode) => {
    const ok = await action.run(() =>
      unwrap(
        portal.PUT("/v1/tenants/{tenantId}/support-policy", { params: { path: { tenantId } }, body: { mode: next } }),
      ),
    );
    if (ok) onChange();
  };
  return (
    <section class="card" aria-labelledby="support-policy-title">
      <h2 id="support-policy-title">Policy</h2>
      {action.problem && <ProblemNotice problem={action.problem} />}
      <label class="checkbox">
        <input
          type="checkbox"
          checked={mode === "approval_required"}
          disabled={action.busy}
          onChange={(e) => set(e.currentTarget.checked ? "approval_required" : "notify")}
        />{" "}
        Require our approval before the provider's staff can access our data
      </label>
      <p class="muted small">
        {mode === "approval_required"
          ? "Requests wait here until you approve them."
          : "Requests are granted at once and listed here; you can end any of them."}
      </p>
    </section>
  );
}

function Decide({ tenantId, access, onChange }: { tenantId: string; access: SupportAccess; onChange: () => void }) {
  const action = useAction();
  const act = async (verb: "approve" | "deny" | "revoke") => {
    const params = { path: { tenantId, supportAccessId: access.id } };
    const ok = await action.run(() =>
      unwrap(
        verb === "approve"
          ? portal.POST("/v1/tenants/{tenantId}/support-access/{supportAccessId}/approve", { params, body: {} })
          : verb === "deny"
            ? portal.POST("/v1/tenants/{tenantId}/support-access/{supportAccessId}/deny", { params, body: {} })
            : portal.POST("/v1/tenants/{tenantId}/support-access/{supportAccessId}/revoke", { params, body: {} }),
      ),
    );
    if (ok) onChange();
  };
  const who = access.operatorName ?? access.operatorId;
  return (
    <div class="row-actions">
      {action.problem && <ProblemNotice problem={action.problem} />}
      {access.status === "pending" && (
        <>
          <button
            type="button"
            class="button button-small button-primary"
            disabled={action.busy}
            aria-label={`Approve ${who}'s request`}
            onClick={() => act("approve")}
          >
            Approve
          </button>
          <button
            type="button"
            class="button button-small"
            disabled={action.busy}
            aria-label={`Deny ${who}'s request`}
            onClick={() => act("deny")}
          >
            Deny
          </button>
        </>
      )}
      {access.status === "active" && (
        <button
          type="button"
          class="button button-small button-danger"
          disabled={action.busy}
          aria-label={`End ${who}'s access`}
          onClick={() => act("revoke")}
        >
          End now
        </button>
      )}
    </div>
  );
}
