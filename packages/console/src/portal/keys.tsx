import { type components, unwrap } from "@baseplate/sdk";
import { useState } from "preact/hooks";
import { Badge, Dialog, Empty, PageHeader, ProblemNotice, Show, Time, useAction, useLoad } from "../ui.js";
import { portal } from "./api.js";
import { SecretShownOnce } from "./webhooks.js";

type TenantKey = components["schemas"]["TenantKey"];

function keyState(k: TenantKey) {
  if (k.revokedAt) return <Badge tone="bad">revoked</Badge>;
  if (k.expiresAt && Date.parse(k.expiresAt) <= Date.now()) return <Badge tone="warn">expired</Badge>;
  return <Badge tone="good">active</Badge>;
}

/** KeysSection: the tenant's own API keys (`bp_tk_…`): create one (its token shown once), revoke one. */
export function KeysSection({ tenantId }: { tenantId: string }) {
  const [state, reload] = useLoad(
    (signal) =>
      unwrap(
        portal.GET("/v1/tenants/{tenantId}/keys", { params: { path: { tenantId }, query: { limit: 100 } }, signal }),
      ),
    [tenantId],
  );
  const [creating, setCreating] = useState(false);
  const [issued, setIssued] = useState<{ name: string; token: string } | null>(null);
  return (
    <>
      <PageHeader
        title="API keys"
        subtitle="Keys for your organisation's own integrations, limited to the permissions you give them."
        actions={
          <button type="button" class="button button-primary" onClick={() => setCreating(true)}>
            Create key
          </button>
        }
      />
      {issued && (
        <SecretShownOnce what={`The key ${issued.name}`} value={issued.token} onDone={() => setIssued(null)} />
      )}
      <Show state={state} what="API keys" retry={reload}>
        {(page) =>
          page.data.length === 0 ? (
            <Empty>No keys yet.</Empty>
          ) : (
            <table class="table">
              <caption class="visually-hidden">API keys</caption>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Key</th>
                  <th scope="col">Permissions</th>
                  <th scope="col">State</th>
                  <th scope="col">Last used</th>
                  <th scope="col">
                    <span class="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {page.data.map((k) => (
                  <tr key={k.id}>
                    <td>{k.name}</td>
                    <td>
                      <code>{k.display}</code>
                    </td>
                    <td>{k.permissions.join(", ")}</td>
                    <td>{keyState(k)}</td>
                    <td>
                      <Time iso={k.lastUsedAt} />
                    </td>
                    <td class="cell-actions">{!k.revokedAt && <Revoke tenantId={tenantId} k={k} onDone={reload} />}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )
        }
      </Show>
      <Dialog title="Create an API key" open={creating} onClose={() => setCreating(false)}>
        <CreateKey
          tenantId={tenantId}
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

function CreateKey({
  tenantId,
  onDone,
}: {
  tenantId: string;
  onDone: (created: { name: string; token: string } | null) => void;
}) {
  const [name, setName] = useState("");
  const [permissions, setPermissions] = useState("webhooks:read");
  const action = useAction();
  const submit = async (ev: Event) => {
    ev.preventDefault();
    let created: { name: string; token: string } | null = null;
    const ok = await action.run(async () => {
      const k = await unwrap(
        portal.POST("/v1/tenants/{tenantId}/keys", {
          params: { path: { tenantId } },
          body: {
            name,
            permissions: permissions
              .split(/[\s,]+/)
              .map((s) => s.trim())
              .filter(Boolean),
          },
        }),
      );
      created = { name: k.name, token: k.token ?? "" };
    });
    if (ok) onDone(created);
  };
  return (
    <form class="form" onSubmit={submit}>
      <label>
        Name
        <input required maxLength={100} value={name} onInput={(e) => setName(e.currentTarget.value)} />
      </label>
      <label>
        Permissions (comma-separated, e.g. <code>webhooks:read, audit:read</code>)
        <input required value={permissions} onInput={(e) => setPermissions(e.currentTarget.value)} />
      </label>
      {action.problem && <ProblemNotice problem={action.problem} />}
      <div class="form-actions">
        <button type="button" class="button" onClick={() => onDone(null)}>
          Cancel
        </button>
        <button type="submit" class="button button-primary" disabled={action.busy}>
          Create key
        </button>
      </div>
    </form>
  );
}

function Revoke({ tenantId, k, onDone }: { tenantId: string; k: TenantKey; onDone: () => void }) {
  const [confirming, setConfirming] = useState(false);
  const action = useAction();
  return (
    <>
      <button type="button" class="button button-small button-danger" onClick={() => setConfirming(true)}>
        Revoke
      </button>
      <Dialog title={`Revoke ${k.name}?`} open={confirming} onClose={() => setConfirming(false)}>
        <p>Requests made with this key are refused from now on. This cannot be undone.</p>
        {action.problem && <ProblemNotice problem={action.problem} />}
        <div class="form-actions">
          <button type="button" class="button" onClick={() => setConfirming(false)}>
            Cancel
          </button>
          <button
            type="button"
            class="button button-danger"
            disabled={action.busy}
            onClick={async () => {
              const ok = await action.run(() =>
                unwrap(
                  portal.POST("/v1/tenants/{tenantId}/keys/{keyId}/revoke", {
                    params: { path: { tenantId, keyId: k.id } },
                  }),
                ),
              );
              if (ok) {
                setConfirming(false);
                onDone();
              }
            }}
          >
            Revoke
          </button>
        </div>
      </Dialog>
    </>
  );
}
