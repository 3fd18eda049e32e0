import { unwrap } from "@baseplate/sdk";
import { useState } from "preact/hooks";
import { plane } from "../api.js";
import { session } from "../session.js";
import { Badge, Copyable, Dialog, Empty, PageHeader, ProblemNotice, Show, Time, useAction, useLoad } from "../ui.js";

/**
 * Tokens lists the signed-in operator's live sessions and API tokens (for scripts and the CLI),
 * creates API tokens (the secret is shown once, in this page only) and revokes them.
 */
export function Tokens() {
  const [creating, setCreating] = useState(false);
  const [issued, setIssued] = useState<{ name: string; token: string } | null>(null);
  const [state, reload] = useLoad(
    (signal) => unwrap(plane.GET("/v1/operator/tokens", { params: { query: { limit: 100 } }, signal })),
    [],
  );
  const revoke = useAction();
  return (
    <>
      <PageHeader
        title="API tokens"
        subtitle="Your operator sessions and tokens. A token acts as you: keep it in a secret store."
        actions={
          <button type="button" class="button button-primary" onClick={() => setCreating(true)}>
            New API token
          </button>
        }
      />
      {issued && (
        <div class="notice notice-success" role="status">
          <p class="notice-title">Token “{issued.name}” created</p>
          <p>Copy it now: it is shown only once and cannot be retrieved later.</p>
          <Copyable value={issued.token} label="the new token" />
          <p>
            <button type="button" class="button button-small" onClick={() => setIssued(null)}>
              I have stored it
            </button>
          </p>
        </div>
      )}
      {revoke.problem && <ProblemNotice problem={revoke.problem} />}
      <Show state={state} what="tokens" retry={reload}>
        {(page) =>
          page.data.length === 0 ? (
            <Empty>No live tokens.</Empty>
          ) : (
            <table class="table">
              <caption class="visually-hidden">Your tokens</caption>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Kind</th>
                  <th scope="col">Created</th>
                  <th scope="col">Last used</th>
                  <th scope="col">Expires</th>
                  <th scope="col">
                    <span class="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {page.data.map((t) => (
                  <tr key={t.id}>
                    <td>
                      {t.name}
                      {t.id === session.value?.tokenId && <span class="muted"> (this session)</span>}
                    </td>
                    <td>
                      <Badge>{t.kind}</Badge>
                    </td>
                    <td>
                      <Time iso={t.createdAt} />
                    </td>
                    <td>
                      <Time iso={t.lastUsedAt} />
                    </td>
                    <td>{t.expiresAt ? <Time iso={t.expiresAt} /> : <span class="muted">never</span>}</td>
                    <td class="cell-actions">
                      {t.kind === "api" && (
                        <button
                          type="button"
                          class="button button-small button-danger"
                          disabled={revoke.busy}
                          aria-label={`Revoke ${t.name}`}
                          onClick={() =>
                            revoke
                              .run(() =>
                                unwrap(
                                  plane.POST("/v1/operator/tokens/{tokenId}/revoke", {
                                    params: { path: { tokenId: t.id } },
                                  }),
                                ),
                              )
                              .then((ok) => ok && reload())
                          }
                        >
                          Revoke
                        </button>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )
        }
      </Show>
      <Dialog title="New API token" open={creating} onClose={() => setCreating(false)}>
        <CreateToken
          onDone={(created) => {
            setCreating(false);
            if (created) {
              setIssued(created);
              reload();
            }
          }}
        />
      </Dialog>
    </>
  );
}

function CreateToken({ onDone }: { onDone: (issued: { name: string; token: string } | null) => void }) {
  const [name, setName] = useState("");
  const [days, setDays] = useState("90");
  const action = useAction();
  const submit = async (e: Event) => {
    e.preventDefault();
    let token = "";
    const ok = await action.run(async () => {
      const expiresAt = days === "never" ? undefined : new Date(Date.now() + Number(days) * 86_400_000).toISOString();
      const issued = await unwrap(
        plane.POST("/v1/operator/tokens", { body: { name, ...(expiresAt ? { expiresAt } : {}) } }),
      );
      token = issued.token ?? "";
    });
    if (ok) onDone({ name, token });
  };
  return (
    <form onSubmit={submit} class="form">
      {action.problem && <ProblemNotice problem={action.problem} />}
      <label for="token-name">Name</label>
      <input
        id="token-name"
        required
        placeholder="deploy script"
        value={name}
        onInput={(e) => setName(e.currentTarget.value)}
      />
      <label for="token-expiry">Expires</label>
      <select id="token-expiry" value={days} onChange={(e) => setDays(e.currentTarget.value)}>
        <option value="7">in 7 days</option>
        <option value="30">in 30 days</option>
        <option value="90">in 90 days</option>
        <option value="365">in a year</option>
        <option value="never">never</option>
      </select>
      <div class="form-actions">
        <button type="button" class="button" onClick={() => onDone(null)}>
          Cancel
        </button>
        <button type="submit" class="button button-primary" disabled={action.busy}>
          {action.busy ? "Creating…" : "Create token"}
        </button>
      </div>
    </form>
  );
}
