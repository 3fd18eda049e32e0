import { type components, unwrap } from "@baseplate/sdk";
import { useState } from "preact/hooks";
import { plane } from "../api.js";
import { session } from "../session.js";
import { Badge, Dialog, Empty, PageHeader, ProblemNotice, Show, Time, useAction, useLoad } from "../ui.js";

type Operator = components["schemas"]["Operator"];

/** Operators lists the plane's staff accounts; admins create them and disable or enable them. */
export function Operators() {
  const [creating, setCreating] = useState(false);
  const [resetting, setResetting] = useState<Operator | null>(null);
  const [state, reload] = useLoad(
    (signal) => unwrap(plane.GET("/v1/operators", { params: { query: { limit: 100 } }, signal })),
    [],
  );
  const me = session.value?.operator;
  const admin = me?.role === "admin";
  const toggle = useAction();
  const setDisabled = (o: Operator, disabled: boolean) =>
    toggle
      .run(() =>
        unwrap(
          plane.PATCH("/v1/operators/{operatorId}", { params: { path: { operatorId: o.id } }, body: { disabled } }),
        ),
      )
      .then((ok) => ok && reload());
  return (
    <>
      <PageHeader
        title="Operators"
        subtitle="People who run this plane. Admins manage operators; support staff can read and act on tenants."
        actions={
          admin && (
            <button type="button" class="button button-primary" onClick={() => setCreating(true)}>
              New operator
            </button>
          )
        }
      />
      {toggle.problem && <ProblemNotice problem={toggle.problem} />}
      <Show state={state} what="operators" retry={reload}>
        {(page) =>
          page.data.length === 0 ? (
            <Empty>No operators.</Empty>
          ) : (
            <table class="table">
              <caption class="visually-hidden">Operators</caption>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Email</th>
                  <th scope="col">Role</th>
                  <th scope="col">Status</th>
                  <th scope="col">Two-factor</th>
                  <th scope="col">Created</th>
                  {admin && (
                    <th scope="col">
                      <span class="visually-hidden">Actions</span>
                    </th>
                  )}
                </tr>
              </thead>
              <tbody>
                {page.data.map((o) => (
                  <tr key={o.id}>
                    <td>
                      {o.name}
                      {o.id === me?.id && <span class="muted"> (you)</span>}
                    </td>
                    <td>{o.email}</td>
                    <td>
                      <Badge tone={o.role === "admin" ? "warn" : "neutral"}>{o.role}</Badge>
                    </td>
                    <td>{o.disabled ? <Badge tone="bad">disabled</Badge> : <Badge tone="good">active</Badge>}</td>
                    <td>{o.mfa ? <Badge tone="good">on</Badge> : <Badge tone="warn">off</Badge>}</td>
                    <td>
                      <Time iso={o.createdAt} />
                    </td>
                    {admin && (
                      <td class="cell-actions">
                        {o.id !== me?.id && (
                          <button
                            type="button"
                            class={`button button-small ${o.disabled ? "" : "button-danger"}`}
                            disabled={toggle.busy}
                            aria-label={`${o.disabled ? "Enable" : "Disable"} ${o.name}`}
                            onClick={() => setDisabled(o, !o.disabled)}
                          >
                            {o.disabled ? "Enable" : "Disable"}
                          </button>
                        )}
                        {o.id !== me?.id && o.mfa && (
                          <button
                            type="button"
                            class="button button-small"
                            aria-label={`Reset two-factor sign-in of ${o.name}`}
                            onClick={() => setResetting(o)}
                          >
                            Reset two-factor
                          </button>
                        )}
                      </td>
                    )}
                  </tr>
                ))}
              </tbody>
            </table>
          )
        }
      </Show>
      <Dialog title="Reset two-factor sign-in" open={resetting !== null} onClose={() => setResetting(null)}>
        {resetting && (
          <ResetTwoFactor
            operator={resetting}
            onDone={(changed) => {
              setResetting(null);
              if (changed) reload();
            }}
          />
        )}
      </Dialog>
      <Dialog title="New operator" open={creating} onClose={() => setCreating(false)}>
        <CreateOperator
          onDone={(created) => {
            setCreating(false);
            if (created) reload();
          }}
        />
      </Dialog>
    </>
  );
}

function CreateOperator({ onDone }: { onDone: (created: boolean) => void }) {
  const [form, setForm] = useState({ name: "", email: "", role: "support" as Operator["role"], password: "" });
  const action = useAction();
  const set = (k: keyof typeof form) => (e: Event) =>
    setForm({ ...form, [k]: (e.currentTarget as HTMLInputElement).value });
  const submit = async (e: Event) => {
    e.preventDefault();
    if (await action.run(() => unwrap(plane.POST("/v1/operators", { body: form })))) onDone(true);
  };
  return (
    <form onSubmit={submit} class="form">
      {action.problem && <ProblemNotice problem={action.problem} />}
      <label for="operator-name">Name</label>
      <input id="operator-name" required value={form.name} onInput={set("name")} />
      <label for="operator-email">Email</label>
      <input id="operator-email" type="email" required value={form.email} onInput={set("email")} />
      <label for="operator-role">Role</label>
      <select id="operator-role" value={form.role} onChange={set("role")}>
        <option value="support">support</option>
        <option value="admin">admin</option>
      </select>
      <label for="operator-password">Initial password</label>
      <input
        id="operator-password"
        type="password"
        autocomplete="new-password"
        required
        aria-describedby="operator-password-help"
        value={form.password}
        onInput={set("password")}
      />
      <p id="operator-password-help" class="muted small">
        Hand it over out of band; the operator signs in with it.
      </p>
      <div class="form-actions">
        <button type="button" class="button" onClick={() => onDone(false)}>
          Cancel
        </button>
        <button type="submit" class="button button-primary" disabled={action.busy}>
          {action.busy ? "Creating…" : "Create operator"}
        </button>
      </div>
    </form>
  );
}

/**
 * ResetTwoFactor removes another operator's second factor (a lost phone) with a reason, recorded
 * in the plane's audit chain. Its next sign-in takes the password only until it turns it on again.
 */
function ResetTwoFactor({ operator, onDone }: { operator: Operator; onDone: (changed: boolean) => void }) {
  const [reason, setReason] = useState("");
  const action = useAction();
  return (
    <form
      class="form"
      onSubmit={(e) => {
        e.preventDefault();
        void action
          .run(() =>
            unwrap(
              plane.POST("/v1/operators/{operatorId}/mfa/reset", {
                params: { path: { operatorId: operator.id } },
                body: { reason },
              }),
            ),
          )
          .then((ok) => ok && onDone(true));
      }}
    >
      <p>
        {operator.name} will sign in with the password only until they turn two-factor sign-in on again. Do this only
        after checking who is asking (a lost phone).
      </p>
      <label for="mfa-reset-reason">Reason</label>
      <input
        id="mfa-reset-reason"
        required
        minLength={3}
        maxLength={500}
        value={reason}
        onInput={(e) => setReason(e.currentTarget.value)}
      />
      {action.problem && <ProblemNotice problem={action.problem} />}
      <div class="form-actions">
        <button type="button" class="button" onClick={() => onDone(false)}>
          Cancel
        </button>
        <button type="submit" class="button button-danger" disabled={action.busy}>
          Reset
        </button>
      </div>
    </form>
  );
}
