import { type components, unwrap } from "@baseplate/sdk";
import { useState } from "preact/hooks";
import { plane } from "../api.js";
import {
  Confirm,
  canWrite,
  EnvironmentNote,
  ExpirySelect,
  expiryIn,
  GraceSelect,
  LoadMore,
  NoEnvironment,
  ReadOnlyNote,
  ShownOnce,
  splitList,
  usePaged,
  useScope,
} from "../scoped.js";
import { Badge, Dialog, Empty, PageHeader, ProblemNotice, Show, Time, useAction, useLoad } from "../ui.js";

type SecretKey = components["schemas"]["SecretKey"];

function keyState(k: SecretKey) {
  if (k.revokedAt) return <Badge tone="bad">revoked</Badge>;
  if (k.expiresAt && Date.parse(k.expiresAt) <= Date.now()) return <Badge>expired</Badge>;
  return <Badge tone="good">active</Badge>;
}

/**
 * SecretKeys lists the selected environment's secret keys (`bp_sk_…`, the product backend's
 * credential): admins issue one (shown once) to a surface and revoke them. These are plane routes
 * (`/v1/environments/{id}/secret-keys`), called with the operator's session.
 */
export function SecretKeys() {
  const scope = useScope();
  const [creating, setCreating] = useState(false);
  const [issued, setIssued] = useState<{ name: string; token: string } | null>(null);
  const [revoking, setRevoking] = useState<SecretKey | null>(null);
  const [rotating, setRotating] = useState<SecretKey | null>(null);
  const [grace, setGrace] = useState("86400");
  const list = usePaged(
    (cursor, signal) =>
      scope
        ? unwrap(
            plane.GET("/v1/environments/{environmentId}/secret-keys", {
              params: { path: { environmentId: scope.envId }, query: { limit: 50, ...(cursor ? { cursor } : {}) } },
              signal,
            }),
          )
        : Promise.resolve({ data: [] as SecretKey[], hasMore: false, nextCursor: null }),
    [scope?.envId],
  );
  const write = canWrite();
  return (
    <>
      <PageHeader
        title="Secret keys"
        subtitle={
          <EnvironmentNote>
            Your product's backend calls the plane with one. Keep it on the server, never in a browser or app.
          </EnvironmentNote>
        }
        actions={
          scope &&
          write && (
            <button type="button" class="button button-primary" onClick={() => setCreating(true)}>
              New secret key
            </button>
          )
        }
      />
      <ReadOnlyNote />
      {issued && (
        <ShownOnce
          title={`Secret key “${issued.name}” created`}
          value={issued.token}
          label="the new secret key"
          onDismiss={() => setIssued(null)}
        />
      )}
      {!scope ? (
        <NoEnvironment />
      ) : (
        <Show state={list.state} what="secret keys" retry={list.reload}>
          {() =>
            list.items.length === 0 ? (
              <Empty>This environment has no secret keys.</Empty>
            ) : (
              <>
                <table class="table">
                  <caption class="visually-hidden">Secret keys</caption>
                  <thead>
                    <tr>
                      <th scope="col">Name</th>
                      <th scope="col">Key</th>
                      <th scope="col">Scopes</th>
                      <th scope="col">State</th>
                      <th scope="col">Created</th>
                      <th scope="col">Created by</th>
                      <th scope="col">Last used</th>
                      <th scope="col">Expires</th>
                      {write && (
                        <th scope="col">
                          <span class="visually-hidden">Actions</span>
                        </th>
                      )}
                    </tr>
                  </thead>
                  <tbody>
                    {list.items.map((k) => (
                      <tr key={k.id}>
                        <td>
                          {k.name}
                          {k.replacedBy && <span class="muted small"> (rotated)</span>}
                        </td>
                        <td>
                          <code>{k.display}</code>
                        </td>
                        <td>
                          {k.scopes.map((p) => (
                            <code key={p} class="chip">
                              {p}
                            </code>
                          ))}
                        </td>
                        <td>{keyState(k)}</td>
                        <td>
                          <Time iso={k.createdAt} />
                        </td>
                        <td>
                          <code class="id">{k.createdBy}</code>
                        </td>
                        <td>
                          <Time iso={k.lastUsedAt} />
                        </td>
                        <td>{k.expiresAt ? <Time iso={k.expiresAt} /> : <span class="muted">never</span>}</td>
                        {write && (
                          <td class="cell-actions">
                            {!k.revokedAt && !k.replacedBy && (
                              <button
                                type="button"
                                class="button button-small"
                                aria-label={`Rotate ${k.name}`}
                                onClick={() => setRotating(k)}
                              >
                                Rotate
                              </button>
                            )}
                            {!k.revokedAt && (
                              <button
                                type="button"
                                class="button button-small button-danger"
                                aria-label={`Revoke ${k.name}${k.replacedBy ? " (rotated)" : ""}`}
                                onClick={() => setRevoking(k)}
                              >
                                Revoke
                              </button>
                            )}
                          </td>
                        )}
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
      )}
      <Dialog title="New secret key" open={creating} onClose={() => setCreating(false)}>
        <CreateSecretKey
          onDone={(created) => {
            setCreating(false);
            if (created) {
              if (created.token) setIssued({ name: created.name, token: created.token });
              list.reload();
            }
          }}
        />
      </Dialog>
      {rotating && (
        <Confirm
          title="Rotate secret key"
          open={true}
          danger={false}
          confirmLabel="Rotate"
          onClose={(done) => {
            setRotating(null);
            setGrace("86400");
            if (done) list.reload();
          }}
          extra={<GraceSelect id="secret-rotate-grace" value={grace} onChange={setGrace} />}
          act={async () => {
            const next = await unwrap(
              plane.POST("/v1/secret-keys/{keyId}/rotate", {
                params: { path: { keyId: rotating.id } },
                body: { gracePeriodSeconds: Number(grace) },
              }),
            );
            if (next.token) setIssued({ name: `${next.name} (the new key)`, token: next.token });
          }}
        >
          <p>
            A new key with the same surface and scopes is issued (shown once). Put it in your backend's configuration;
            the old key <strong>{rotating.name}</strong> <code>{rotating.display}</code> stops after the grace period.
          </p>
        </Confirm>
      )}
      {revoking && (
        <Confirm
          title="Revoke secret key"
          open={true}
          confirmLabel="Revoke"
          onClose={(done) => {
            setRevoking(null);
            if (done) list.reload();
          }}
          act={() => unwrap(plane.POST("/v1/secret-keys/{keyId}/revoke", { params: { path: { keyId: revoking.id } } }))}
        >
          <p>
            <strong>{revoking.name}</strong> <code>{revoking.display}</code> stops working at once, in every process:
            whatever backend uses it is refused from now on. This cannot be undone.
          </p>
        </Confirm>
      )}
    </>
  );
}

function CreateSecretKey({ onDone }: { onDone: (created: { name: string; token: string | null } | null) => void }) {
  // biome-ignore lint/style/noNonNullAssertion: opened only with an environment.
  const scope = useScope()!;
  const [name, setName] = useState("");
  const [surfaceId, setSurfaceId] = useState("");
  const [scopes, setScopes] = useState("*");
  const [days, setDays] = useState("never");
  const action = useAction();
  const [surfaces] = useLoad(
    (signal) =>
      unwrap(
        plane.GET("/v1/environments/{environmentId}/surfaces", {
          params: { path: { environmentId: scope.envId }, query: { limit: 100 } },
          signal,
        }),
      ).then((p) => {
        const live = p.data.filter((s) => !s.archivedAt);
        if (live[0]) setSurfaceId((id) => id || (live[0]?.id ?? ""));
        return live;
      }),
    [scope.envId],
  );
  const submit = async (e: Event) => {
    e.preventDefault();
    let token: string | null = null;
    const ok = await action.run(async () => {
      const expiresAt = expiryIn(days);
      const issued = await unwrap(
        plane.POST("/v1/environments/{environmentId}/secret-keys", {
          params: { path: { environmentId: scope.envId } },
          body: { name: name.trim(), surfaceId, scopes: splitList(scopes), ...(expiresAt ? { expiresAt } : {}) },
        }),
      );
      token = issued.token;
    });
    if (ok) onDone({ name: name.trim(), token });
  };
  return (
    <form onSubmit={submit} class="form">
      {action.problem && <ProblemNotice problem={action.problem} />}
      <label for="secret-key-name">Name</label>
      <input
        id="secret-key-name"
        required
        maxLength={200}
        placeholder="backend"
        value={name}
        onInput={(e) => setName(e.currentTarget.value)}
      />
      <label for="secret-key-surface">Surface</label>
      <Show state={surfaces} what="surfaces">
        {(list) =>
          list.length === 0 ? (
            <Empty>This environment has no surface: add one before issuing keys.</Empty>
          ) : (
            <select
              id="secret-key-surface"
              required
              value={surfaceId}
              onChange={(e) => setSurfaceId(e.currentTarget.value)}
            >
              {list.map((s) => (
                <option key={s.id} value={s.id}>
                  {s.name} ({s.kind}) — ceiling {s.scopeCeiling.join(" ")}
                </option>
              ))}
            </select>
          )
        }
      </Show>
      <label for="secret-key-scopes">Scopes</label>
      <input
        id="secret-key-scopes"
        required
        aria-describedby="secret-key-scopes-help"
        value={scopes}
        onInput={(e) => setScopes(e.currentTarget.value)}
      />
      <p id="secret-key-scopes-help" class="muted small">
        Separated by spaces or commas, within the surface's ceiling; <code>*</code> for everything it allows.
      </p>
      <label for="secret-key-expiry">Expires</label>
      <ExpirySelect id="secret-key-expiry" value={days} onChange={setDays} />
      <div class="form-actions">
        <button type="button" class="button" onClick={() => onDone(null)}>
          Cancel
        </button>
        <button type="submit" class="button button-primary" disabled={action.busy || !surfaceId}>
          {action.busy ? "Creating…" : "Create key"}
        </button>
      </div>
    </form>
  );
}
