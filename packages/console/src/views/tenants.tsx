import { type components, unwrap } from "@baseplate/sdk";
import { useState } from "preact/hooks";
import { plane } from "../api.js";
import { Link, navigate } from "../router.js";
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
  UserLink,
  useCanWrite,
  usePaged,
  useScope,
} from "../scoped.js";
import { Badge, Dialog, Empty, Fields, PageHeader, ProblemNotice, Show, Time, useAction, useLoad } from "../ui.js";
import { TenantBilling } from "./billing.js";
import { SupportGate } from "./support.js";

type Tenant = components["schemas"]["Tenant"];
type TenantKey = components["schemas"]["TenantKey"];
type AgentKey = components["schemas"]["AgentKey"];
type AuditEntry = components["schemas"]["AuditEntry"];
type TenantState = Tenant["state"];

const STATE_TONE: Record<TenantState, "good" | "warn" | "bad"> = {
  active: "good",
  suspended: "warn",
  deactivated: "bad",
};

export function StateBadge({ state }: { state: TenantState }) {
  return <Badge tone={STATE_TONE[state]}>{state}</Badge>;
}

/**
 * Tenants lists the selected environment's tenants: search by name, slug or external id, filter by
 * state, page with "Load more". Admins create tenants.
 */
export function Tenants() {
  const scope = useScope();
  const [q, setQ] = useState("");
  const [query, setQuery] = useState("");
  const [state, setState] = useState<TenantState | "">("");
  const [creating, setCreating] = useState(false);
  const list = usePaged(
    (cursor, signal) =>
      scope
        ? unwrap(
            scope.api.GET("/v1/tenants", {
              params: {
                query: {
                  limit: 25,
                  ...(cursor ? { cursor } : {}),
                  ...(query ? { q: query } : {}),
                  ...(state ? { state } : {}),
                },
              },
              signal,
            }),
          )
        : Promise.resolve({ data: [] as Tenant[], hasMore: false, nextCursor: null }),
    [scope?.envId, query, state],
  );
  return (
    <>
      <PageHeader
        title="Tenants"
        subtitle={<EnvironmentNote>The customer organisations of this environment.</EnvironmentNote>}
        actions={
          scope &&
          canWrite() && (
            <button type="button" class="button button-primary" onClick={() => setCreating(true)}>
              New tenant
            </button>
          )
        }
      />
      {!scope ? (
        <NoEnvironment />
      ) : (
        <>
          <form
            class="filters"
            aria-label="Search tenants"
            onSubmit={(e) => {
              e.preventDefault();
              setQuery(q.trim());
            }}
          >
            <label for="tenant-search">Search</label>
            <input
              id="tenant-search"
              type="search"
              placeholder="Name, slug or external id"
              maxLength={200}
              value={q}
              onInput={(e) => setQ(e.currentTarget.value)}
            />
            <button type="submit" class="button">
              Search
            </button>
            <label for="tenant-state">State</label>
            <select
              id="tenant-state"
              value={state}
              onChange={(e) => setState(e.currentTarget.value as TenantState | "")}
            >
              <option value="">Any</option>
              <option value="active">Active</option>
              <option value="suspended">Suspended</option>
              <option value="deactivated">Deactivated</option>
            </select>
          </form>
          <Show state={list.state} what="tenants" retry={list.reload}>
            {() =>
              list.items.length === 0 ? (
                <Empty>{query || state ? "No tenant matches." : "This environment has no tenants yet."}</Empty>
              ) : (
                <>
                  <table class="table">
                    <caption class="visually-hidden">Tenants</caption>
                    <thead>
                      <tr>
                        <th scope="col">Name</th>
                        <th scope="col">Slug</th>
                        <th scope="col">External id</th>
                        <th scope="col">State</th>
                        <th scope="col">Created</th>
                      </tr>
                    </thead>
                    <tbody>
                      {list.items.map((t) => (
                        <tr key={t.id}>
                          <td>
                            <Link href={`/tenants/${t.id}`}>{t.name}</Link>
                          </td>
                          <td>
                            <code>{t.slug}</code>
                          </td>
                          <td>{t.externalId ? <code>{t.externalId}</code> : <span class="muted">—</span>}</td>
                          <td>
                            <StateBadge state={t.state} />
                          </td>
                          <td>
                            <Time iso={t.createdAt} />
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
      )}
      <Dialog title="New tenant" open={creating} onClose={() => setCreating(false)}>
        <CreateTenant
          onDone={(created) => {
            setCreating(false);
            if (created) navigate(`/tenants/${created.id}`);
          }}
        />
      </Dialog>
    </>
  );
}

function CreateTenant({ onDone }: { onDone: (created: Tenant | null) => void }) {
  const scope = useScope();
  const [form, setForm] = useState({ name: "", slug: "", externalId: "" });
  const action = useAction();
  const set = (k: keyof typeof form) => (e: Event) =>
    setForm({ ...form, [k]: (e.currentTarget as HTMLInputElement).value });
  const submit = async (e: Event) => {
    e.preventDefault();
    if (!scope) return;
    let created: Tenant | null = null;
    const ok = await action.run(async () => {
      created = await unwrap(
        scope.api.POST("/v1/tenants", {
          body: {
            name: form.name.trim(),
            ...(form.slug.trim() ? { slug: form.slug.trim() } : {}),
            ...(form.externalId.trim() ? { externalId: form.externalId.trim() } : {}),
          },
        }),
      );
    });
    if (ok) onDone(created);
  };
  return (
    <form onSubmit={submit} class="form">
      {action.problem && <ProblemNotice problem={action.problem} />}
      <label for="tenant-name">Name</label>
      <input id="tenant-name" required maxLength={200} value={form.name} onInput={set("name")} />
      <label for="tenant-slug">Slug (optional)</label>
      <input
        id="tenant-slug"
        pattern="[a-z0-9](?:[a-z0-9\-]{0,62}[a-z0-9])?"
        aria-describedby="tenant-slug-help"
        value={form.slug}
        onInput={set("slug")}
      />
      <p id="tenant-slug-help" class="muted small">
        Lowercase letters, digits and hyphens; derived from the name when empty.
      </p>
      <label for="tenant-external-id">External id (optional)</label>
      <input
        id="tenant-external-id"
        maxLength={200}
        aria-describedby="tenant-external-id-help"
        value={form.externalId}
        onInput={set("externalId")}
      />
      <p id="tenant-external-id-help" class="muted small">
        Your product's own id for this customer, unique in the environment.
      </p>
      <div class="form-actions">
        <button type="button" class="button" onClick={() => onDone(null)}>
          Cancel
        </button>
        <button type="submit" class="button button-primary" disabled={action.busy}>
          {action.busy ? "Creating…" : "Create tenant"}
        </button>
      </div>
    </form>
  );
}

type Lifecycle = "suspend" | "reactivate" | "deactivate";

const LIFECYCLE: Record<Lifecycle, { title: string; label: string; text: string }> = {
  suspend: {
    title: "Suspend tenant",
    label: "Suspend",
    text: "Its members' sessions, tenant keys and agent keys are refused (tenant_suspended) for everything but reading, export and billing recovery, and webhook delivery pauses. Nothing is revoked: reactivating restores it all.",
  },
  reactivate: {
    title: "Reactivate tenant",
    label: "Reactivate",
    text: "Its sessions, keys and webhook delivery work again at once.",
  },
  deactivate: {
    title: "Deactivate tenant",
    label: "Deactivate",
    text: "For a customer that left: only reading and export stay open. Reactivating restores it.",
  },
};

/**
 * TenantDetail shows a tenant: its state with the reason and, under support access (`SupportGate`),
 * the history of its lifecycle (the tenant's `tenant.*` audit entries), members and pending
 * invitations, tenant keys and agent keys. Admins suspend, reactivate and deactivate it (with a
 * reason) without support access; inviting members and managing keys need write access.
 */
export function TenantDetail({ tenantId }: { tenantId: string }) {
  const scope = useScope();
  const [lifecycle, setLifecycle] = useState<Lifecycle | null>(null);
  const [category, setCategory] = useState<"other" | "billing">("other");
  const [generation, setGeneration] = useState(0);
  const [state, reload] = useLoad(
    async (signal) => {
      if (!scope) throw new Error("no environment");
      return unwrap(scope.api.GET("/v1/tenants/{tenantId}", { params: { path: { tenantId } }, signal }));
    },
    [scope?.envId, tenantId, generation],
  );
  if (!scope)
    return (
      <>
        <PageHeader title="Tenant" subtitle={<Link href="/tenants">Tenants</Link>} />
        <NoEnvironment />
      </>
    );
  const write = canWrite();
  const changed = () => setGeneration((g) => g + 1);
  return (
    <>
      {state.status !== "ok" && <PageHeader title="Tenant" subtitle={<Link href="/tenants">Tenants</Link>} />}
      <Show state={state} what="the tenant" retry={reload}>
        {(t) => (
          <>
            <PageHeader
              title={
                <>
                  {t.name} <StateBadge state={t.state} />
                </>
              }
              subtitle={
                <>
                  <Link href="/tenants">Tenants</Link> / {t.name}
                </>
              }
              actions={
                write && (
                  <>
                    {t.state === "active" && (
                      <button type="button" class="button button-danger" onClick={() => setLifecycle("suspend")}>
                        Suspend
                      </button>
                    )}
                    {t.state !== "active" && (
                      <button type="button" class="button button-primary" onClick={() => setLifecycle("reactivate")}>
                        Reactivate
                      </button>
                    )}
                    {t.state !== "deactivated" && (
                      <button type="button" class="button button-danger" onClick={() => setLifecycle("deactivate")}>
                        Deactivate
                      </button>
                    )}
                  </>
                )
              }
            />
            <ReadOnlyNote />
            {t.state !== "active" && (
              <div class="notice notice-warn" role="status">
                <p class="notice-title">
                  {t.state === "suspended" ? "Suspended" : "Deactivated"}
                  {t.stateCategory === "billing" ? " (billing)" : ""}
                </p>
                <p>
                  Reason: {t.stateReason ?? <span class="muted">none given</span>} · since{" "}
                  <Time iso={t.stateChangedAt} />
                  {t.stateChangedBy && (
                    <>
                      {" "}
                      by <code>{t.stateChangedBy}</code>
                    </>
                  )}
                </p>
              </div>
            )}
            <section class="card">
              <Fields
                rows={[
                  ["Id", <code key="id">{t.id}</code>],
                  ["Slug", <code key="slug">{t.slug}</code>],
                  ["External id", t.externalId ? <code key="x">{t.externalId}</code> : "—"],
                  ["Time zone", t.timeZone],
                  ["State", <StateBadge key="s" state={t.state} />],
                  ["State changed", <Time key="sc" iso={t.stateChangedAt} />],
                  ["Created", <Time key="c" iso={t.createdAt} />],
                  ["Updated", <Time key="u" iso={t.updatedAt} />],
                ]}
              />
            </section>
            <SupportGate tenantId={t.id}>
              {() => (
                <>
                  <History tenantId={t.id} generation={generation} />
                  <Members tenantId={t.id} />
                  <TenantKeys tenantId={t.id} />
                  <AgentKeys tenantId={t.id} />
                  <TenantBilling tenantId={t.id} />
                </>
              )}
            </SupportGate>
            {lifecycle && (
              <Confirm
                title={LIFECYCLE[lifecycle].title}
                open={true}
                confirmLabel={LIFECYCLE[lifecycle].label}
                danger={lifecycle !== "reactivate"}
                reason="Reason"
                onClose={(done) => {
                  setLifecycle(null);
                  setCategory("other");
                  if (done) changed();
                }}
                extra={
                  lifecycle === "suspend" && (
                    <>
                      <label for="suspend-category">Category</label>
                      <select
                        id="suspend-category"
                        value={category}
                        onChange={(e) => setCategory(e.currentTarget.value as "other" | "billing")}
                      >
                        <option value="other">Other (members get 403)</option>
                        <option value="billing">Billing (members get 402)</option>
                      </select>
                    </>
                  )
                }
                act={(reason) => {
                  const path = { params: { path: { tenantId: t.id } } };
                  if (lifecycle === "suspend")
                    return unwrap(
                      scope.api.POST("/v1/tenants/{tenantId}/suspend", { ...path, body: { reason, category } }),
                    );
                  if (lifecycle === "deactivate")
                    return unwrap(scope.api.POST("/v1/tenants/{tenantId}/deactivate", { ...path, body: { reason } }));
                  return unwrap(scope.api.POST("/v1/tenants/{tenantId}/reactivate", { ...path, body: { reason } }));
                }}
              >
                <p>
                  <strong>{t.name}</strong>: {LIFECYCLE[lifecycle].text}
                </p>
              </Confirm>
            )}
          </>
        )}
      </Show>
    </>
  );
}

function entryReason(e: AuditEntry): string | null {
  const r = e.metadata.reason ?? e.changes?.after?.stateReason;
  return typeof r === "string" ? r : null;
}

function Actor({ actor }: { actor: AuditEntry["actor"] }) {
  return (
    <>
      {actor.displayName ?? actor.type}
      {actor.id && (
        <>
          {" "}
          <code class="id">{actor.id}</code>
        </>
      )}
    </>
  );
}

/** History: the tenant's lifecycle and changes, from its `tenant.*` audit entries (newest first). */
function History({ tenantId, generation }: { tenantId: string; generation: number }) {
  const scope = useScope();
  const list = usePaged(
    (cursor, signal) =>
      unwrap(
        // biome-ignore lint/style/noNonNullAssertion: rendered only with an environment.
        scope!.api.GET("/v1/audit/entries", {
          params: { query: { tenantId, action: "tenant.*", limit: 20, ...(cursor ? { cursor } : {}) } },
          signal,
        }),
      ),
    [scope?.envId, tenantId, generation],
  );
  return (
    <section aria-labelledby="history-title">
      <h2 id="history-title">Lifecycle history</h2>
      <Show state={list.state} what="the history" retry={list.reload}>
        {() =>
          list.items.length === 0 ? (
            <Empty>No lifecycle changes recorded.</Empty>
          ) : (
            <>
              <table class="table">
                <caption class="visually-hidden">Lifecycle history</caption>
                <thead>
                  <tr>
                    <th scope="col">When</th>
                    <th scope="col">Change</th>
                    <th scope="col">Reason</th>
                    <th scope="col">By</th>
                  </tr>
                </thead>
                <tbody>
                  {list.items.map((e) => (
                    <tr key={e.id}>
                      <td>
                        <Time iso={e.occurredAt} />
                      </td>
                      <td>
                        <code>{e.action}</code>
                      </td>
                      <td>{entryReason(e) ?? <span class="muted">—</span>}</td>
                      <td>
                        <Actor actor={e.actor} />
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

/** Members: the tenant's members with their roles, its pending invitations, and "Invite member". */
function Members({ tenantId }: { tenantId: string }) {
  // biome-ignore lint/style/noNonNullAssertion: rendered only with an environment.
  const scope = useScope()!;
  const [inviting, setInviting] = useState(false);
  const [issued, setIssued] = useState<{ email: string; token: string } | null>(null);
  const members = usePaged(
    (cursor, signal) =>
      unwrap(
        scope.api.GET("/v1/tenants/{tenantId}/members", {
          params: { path: { tenantId }, query: { limit: 50, ...(cursor ? { cursor } : {}) } },
          signal,
        }),
      ),
    [scope.envId, tenantId],
  );
  const invitations = usePaged(
    (cursor, signal) =>
      unwrap(
        scope.api.GET("/v1/tenants/{tenantId}/invitations", {
          params: { path: { tenantId }, query: { limit: 50, ...(cursor ? { cursor } : {}) } },
          signal,
        }),
      ),
    [scope.envId, tenantId],
  );
  const write = useCanWrite();
  return (
    <section aria-labelledby="members-title">
      <div class="section-header">
        <h2 id="members-title">Members</h2>
        {write && (
          <button type="button" class="button" onClick={() => setInviting(true)}>
            Invite member
          </button>
        )}
      </div>
      {issued && (
        <ShownOnce
          title={`Invitation for ${issued.email} created`}
          value={issued.token}
          label="the invitation token"
          onDismiss={() => setIssued(null)}
        />
      )}
      <Show state={members.state} what="members" retry={members.reload}>
        {() =>
          members.items.length === 0 ? (
            <Empty>No members yet.</Empty>
          ) : (
            <>
              <table class="table">
                <caption class="visually-hidden">Members</caption>
                <thead>
                  <tr>
                    <th scope="col">User</th>
                    <th scope="col">Roles</th>
                    <th scope="col">Member since</th>
                  </tr>
                </thead>
                <tbody>
                  {members.items.map((m) => (
                    <tr key={m.id}>
                      <td>
                        <UserLink id={m.userId} />
                      </td>
                      <td>
                        {m.roles.map((r) => (
                          <code key={r} class="chip">
                            {r}
                          </code>
                        ))}
                      </td>
                      <td>
                        <Time iso={m.createdAt} />
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
              {members.more.problem && <ProblemNotice problem={members.more.problem} />}
              <LoadMore hasMore={members.hasMore} busy={members.more.busy} onClick={members.loadMore} />
            </>
          )
        }
      </Show>
      <h3>Pending invitations</h3>
      <Show state={invitations.state} what="invitations" retry={invitations.reload}>
        {() =>
          invitations.items.length === 0 ? (
            <Empty>No pending invitations.</Empty>
          ) : (
            <>
              <table class="table">
                <caption class="visually-hidden">Pending invitations</caption>
                <thead>
                  <tr>
                    <th scope="col">Email</th>
                    <th scope="col">Roles</th>
                    <th scope="col">Invited</th>
                    <th scope="col">Expires</th>
                  </tr>
                </thead>
                <tbody>
                  {invitations.items.map((i) => (
                    <tr key={i.id}>
                      <td>{i.email}</td>
                      <td>
                        {i.roles.map((r) => (
                          <code key={r} class="chip">
                            {r}
                          </code>
                        ))}
                      </td>
                      <td>
                        <Time iso={i.createdAt} />
                      </td>
                      <td>
                        <Time iso={i.expiresAt} />
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
              <LoadMore hasMore={invitations.hasMore} busy={invitations.more.busy} onClick={invitations.loadMore} />
            </>
          )
        }
      </Show>
      <Dialog title="Invite member" open={inviting} onClose={() => setInviting(false)}>
        <InviteMember
          tenantId={tenantId}
          onDone={(done) => {
            setInviting(false);
            if (done) {
              if (done.token) setIssued({ email: done.email, token: done.token });
              invitations.reload();
            }
          }}
        />
      </Dialog>
    </section>
  );
}

function InviteMember({
  tenantId,
  onDone,
}: {
  tenantId: string;
  onDone: (issued: { email: string; token: string | null } | null) => void;
}) {
  // biome-ignore lint/style/noNonNullAssertion: rendered only with an environment.
  const scope = useScope()!;
  const [email, setEmail] = useState("");
  const [roles, setRoles] = useState<string[]>([]);
  const action = useAction();
  const [available] = useLoad(
    (signal) => unwrap(scope.api.GET("/v1/roles", { signal })).then((r) => r.data),
    [scope.envId],
  );
  const submit = async (e: Event) => {
    e.preventDefault();
    let token: string | null = null;
    const ok = await action.run(async () => {
      const issued = await unwrap(
        scope.api.POST("/v1/tenants/{tenantId}/invitations", {
          params: { path: { tenantId } },
          body: { email: email.trim(), roles },
        }),
      );
      token = issued.token;
    });
    if (ok) onDone({ email: email.trim(), token });
  };
  return (
    <form onSubmit={submit} class="form">
      {action.problem && <ProblemNotice problem={action.problem} />}
      <label for="invite-email">Email</label>
      <input id="invite-email" type="email" required value={email} onInput={(e) => setEmail(e.currentTarget.value)} />
      <fieldset class="checkboxes">
        <legend>Roles</legend>
        <Show state={available} what="roles">
          {(list) =>
            list.map((r) => (
              <label key={r.key} class="checkbox">
                <input
                  type="checkbox"
                  checked={roles.includes(r.key)}
                  onChange={(e) =>
                    setRoles(e.currentTarget.checked ? [...roles, r.key] : roles.filter((k) => k !== r.key))
                  }
                />
                <span>
                  {r.name} <code class="id">{r.key}</code>
                </span>
              </label>
            ))
          }
        </Show>
      </fieldset>
      <p class="muted small">The invitation token is shown once: send it to the invitee (valid 7 days).</p>
      <div class="form-actions">
        <button type="button" class="button" onClick={() => onDone(null)}>
          Cancel
        </button>
        <button type="submit" class="button button-primary" disabled={action.busy || roles.length === 0}>
          {action.busy ? "Inviting…" : "Send invitation"}
        </button>
      </div>
    </form>
  );
}

function keyState(k: { revokedAt: string | null; expiresAt: string | null }) {
  if (k.revokedAt) return <Badge tone="bad">revoked</Badge>;
  if (k.expiresAt && Date.parse(k.expiresAt) <= Date.now()) return <Badge>expired</Badge>;
  return <Badge tone="good">active</Badge>;
}

/** TenantKeys: the keys the tenant owns (create with a surface, shown once; rotate; revoke). */
function TenantKeys({ tenantId }: { tenantId: string }) {
  // biome-ignore lint/style/noNonNullAssertion: rendered only with an environment.
  const scope = useScope()!;
  const [creating, setCreating] = useState(false);
  const [issued, setIssued] = useState<{ title: string; token: string } | null>(null);
  const [confirm, setConfirm] = useState<{ key: TenantKey; kind: "rotate" | "revoke" } | null>(null);
  const [grace, setGrace] = useState("0");
  const keys = usePaged(
    (cursor, signal) =>
      unwrap(
        scope.api.GET("/v1/tenants/{tenantId}/keys", {
          params: { path: { tenantId }, query: { limit: 50, ...(cursor ? { cursor } : {}) } },
          signal,
        }),
      ),
    [scope.envId, tenantId],
  );
  const write = useCanWrite();
  return (
    <section aria-labelledby="tenant-keys-title">
      <div class="section-header">
        <h2 id="tenant-keys-title">Tenant keys</h2>
        {write && (
          <button type="button" class="button" onClick={() => setCreating(true)}>
            New tenant key
          </button>
        )}
      </div>
      {issued && (
        <ShownOnce
          title={issued.title}
          value={issued.token}
          label="the new tenant key"
          onDismiss={() => setIssued(null)}
        />
      )}
      <Show state={keys.state} what="tenant keys" retry={keys.reload}>
        {() =>
          keys.items.length === 0 ? (
            <Empty>The tenant has no keys.</Empty>
          ) : (
            <>
              <table class="table">
                <caption class="visually-hidden">Tenant keys</caption>
                <thead>
                  <tr>
                    <th scope="col">Name</th>
                    <th scope="col">Key</th>
                    <th scope="col">Permissions</th>
                    <th scope="col">State</th>
                    <th scope="col">Created</th>
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
                  {keys.items.map((k) => (
                    <tr key={k.id}>
                      <td>
                        {k.name}
                        {k.replacedBy && <span class="muted small"> (rotated)</span>}
                      </td>
                      <td>
                        <code>{k.display}</code>
                      </td>
                      <td>
                        {k.permissions.map((p) => (
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
                              onClick={() => setConfirm({ key: k, kind: "rotate" })}
                            >
                              Rotate
                            </button>
                          )}{" "}
                          {!k.revokedAt && (
                            <button
                              type="button"
                              class="button button-small button-danger"
                              aria-label={`Revoke ${k.name}${k.replacedBy ? " (rotated)" : ""}`}
                              onClick={() => setConfirm({ key: k, kind: "revoke" })}
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
              {keys.more.problem && <ProblemNotice problem={keys.more.problem} />}
              <LoadMore hasMore={keys.hasMore} busy={keys.more.busy} onClick={keys.loadMore} />
            </>
          )
        }
      </Show>
      <Dialog title="New tenant key" open={creating} onClose={() => setCreating(false)}>
        <CreateTenantKey
          tenantId={tenantId}
          onDone={(created) => {
            setCreating(false);
            if (created) {
              if (created.token) setIssued({ title: `Tenant key “${created.name}” created`, token: created.token });
              keys.reload();
            }
          }}
        />
      </Dialog>
      {confirm && (
        <Confirm
          title={confirm.kind === "rotate" ? "Rotate tenant key" : "Revoke tenant key"}
          open={true}
          danger={confirm.kind === "revoke"}
          confirmLabel={confirm.kind === "rotate" ? "Rotate" : "Revoke"}
          onClose={(done) => {
            setConfirm(null);
            setGrace("0");
            if (done) keys.reload();
          }}
          extra={confirm.kind === "rotate" && <GraceSelect id="rotate-grace" value={grace} onChange={setGrace} />}
          act={async () => {
            const path = { params: { path: { tenantId, keyId: confirm.key.id } } };
            if (confirm.kind === "revoke")
              return unwrap(scope.api.POST("/v1/tenants/{tenantId}/keys/{keyId}/revoke", path));
            const next = await unwrap(
              scope.api.POST("/v1/tenants/{tenantId}/keys/{keyId}/rotate", {
                ...path,
                body: { gracePeriodSeconds: Number(grace) },
              }),
            );
            if (next.token) setIssued({ title: `Tenant key “${next.name}” rotated: the new key`, token: next.token });
          }}
        >
          <p>
            {confirm.kind === "rotate"
              ? "A new key is issued (shown once); the old one stops after the grace period."
              : "The key stops working at once, in every process. This cannot be undone."}{" "}
            Key: <strong>{confirm.key.name}</strong> <code>{confirm.key.display}</code>
          </p>
        </Confirm>
      )}
    </section>
  );
}

function CreateTenantKey({
  tenantId,
  onDone,
}: {
  tenantId: string;
  onDone: (created: { name: string; token: string | null } | null) => void;
}) {
  // biome-ignore lint/style/noNonNullAssertion: rendered only with an environment.
  const scope = useScope()!;
  const [name, setName] = useState("");
  const [surfaceId, setSurfaceId] = useState("");
  const [permissions, setPermissions] = useState("");
  const [days, setDays] = useState("90");
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
        scope.api.POST("/v1/tenants/{tenantId}/keys", {
          params: { path: { tenantId } },
          body: {
            name: name.trim(),
            surfaceId,
            permissions: splitList(permissions),
            ...(expiresAt ? { expiresAt } : {}),
          },
        }),
      );
      token = issued.token;
    });
    if (ok) onDone({ name: name.trim(), token });
  };
  return (
    <form onSubmit={submit} class="form">
      {action.problem && <ProblemNotice problem={action.problem} />}
      <label for="tenant-key-name">Name</label>
      <input
        id="tenant-key-name"
        required
        maxLength={200}
        placeholder="CRM sync"
        value={name}
        onInput={(e) => setName(e.currentTarget.value)}
      />
      <label for="tenant-key-surface">Surface</label>
      <Show state={surfaces} what="surfaces">
        {(list) =>
          list.length === 0 ? (
            <Empty>This environment has no surface: add one before issuing keys.</Empty>
          ) : (
            <select
              id="tenant-key-surface"
              required
              aria-describedby="tenant-key-surface-help"
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
      <p id="tenant-key-surface-help" class="muted small">
        The surface the key calls through; its scope ceiling must hold every permission.
      </p>
      <label for="tenant-key-permissions">Permissions</label>
      <input
        id="tenant-key-permissions"
        required
        placeholder="members:read, usage:write"
        aria-describedby="tenant-key-permissions-help"
        value={permissions}
        onInput={(e) => setPermissions(e.currentTarget.value)}
      />
      <p id="tenant-key-permissions-help" class="muted small">
        Separated by spaces or commas: <code>resource:action</code>, <code>resource:*</code>, <code>*:action</code> or{" "}
        <code>*</code>.
      </p>
      <label for="tenant-key-expiry">Expires</label>
      <ExpirySelect id="tenant-key-expiry" value={days} onChange={setDays} />
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

/** AgentKeys: the keys the tenant's users delegated to agents (revoke). */
function AgentKeys({ tenantId }: { tenantId: string }) {
  // biome-ignore lint/style/noNonNullAssertion: rendered only with an environment.
  const scope = useScope()!;
  const [revoking, setRevoking] = useState<AgentKey | null>(null);
  const keys = usePaged(
    (cursor, signal) =>
      unwrap(
        scope.api.GET("/v1/tenants/{tenantId}/agent-keys", {
          params: { path: { tenantId }, query: { limit: 50, ...(cursor ? { cursor } : {}) } },
          signal,
        }),
      ),
    [scope.envId, tenantId],
  );
  const write = useCanWrite();
  return (
    <section aria-labelledby="agent-keys-title">
      <h2 id="agent-keys-title">Agent keys</h2>
      <Show state={keys.state} what="agent keys" retry={keys.reload}>
        {() =>
          keys.items.length === 0 ? (
            <Empty>No agent acts for this tenant's users.</Empty>
          ) : (
            <>
              <table class="table">
                <caption class="visually-hidden">Agent keys</caption>
                <thead>
                  <tr>
                    <th scope="col">Agent</th>
                    <th scope="col">For user</th>
                    <th scope="col">Scopes</th>
                    <th scope="col">State</th>
                    <th scope="col">Created</th>
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
                  {keys.items.map((k) => (
                    <tr key={k.id}>
                      <td>
                        {k.name}
                        {k.model && <span class="muted small"> ({k.model})</span>}
                      </td>
                      <td>
                        <UserLink id={k.userId} />
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
                        <Time iso={k.lastUsedAt} />
                      </td>
                      <td>{k.expiresAt ? <Time iso={k.expiresAt} /> : <span class="muted">never</span>}</td>
                      {write && (
                        <td class="cell-actions">
                          {!k.revokedAt && (
                            <button
                              type="button"
                              class="button button-small button-danger"
                              aria-label={`Revoke agent key ${k.name}`}
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
              {keys.more.problem && <ProblemNotice problem={keys.more.problem} />}
              <LoadMore hasMore={keys.hasMore} busy={keys.more.busy} onClick={keys.loadMore} />
            </>
          )
        }
      </Show>
      {revoking && (
        <Confirm
          title="Revoke agent key"
          open={true}
          confirmLabel="Revoke"
          onClose={(done) => {
            setRevoking(null);
            if (done) keys.reload();
          }}
          act={() =>
            unwrap(
              scope.api.POST("/v1/tenants/{tenantId}/agent-keys/{agentKeyId}/revoke", {
                params: { path: { tenantId, agentKeyId: revoking.id } },
              }),
            )
          }
        >
          <p>
            The agent <strong>{revoking.name}</strong> loses access at once, with the invitations it issued. This cannot
            be undone.
          </p>
        </Confirm>
      )}
    </section>
  );
}
