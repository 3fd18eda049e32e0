import { type components, unwrap } from "@baseplate/sdk";
import { useState } from "preact/hooks";
import { Link } from "../router.js";
import {
  Confirm,
  canWrite,
  EnvironmentNote,
  LoadMore,
  NoEnvironment,
  ReadOnlyNote,
  TenantLink,
  usePaged,
  useScope,
} from "../scoped.js";
import { Badge, Empty, Fields, PageHeader, ProblemNotice, Show, Time, useLoad } from "../ui.js";

type User = components["schemas"]["User"];

/** UserMembership: a user's membership as the access module's part of the user's data export lists it. */
interface UserMembership {
  id: string;
  tenantId: string;
  roles: string[];
  createdAt: unknown;
}

function UserState({ user }: { user: User }) {
  return user.disabled ? <Badge tone="bad">disabled</Badge> : <Badge tone="good">active</Badge>;
}

/** Users lists and searches (email and name) the selected environment's end users. */
export function Users() {
  const scope = useScope();
  const [q, setQ] = useState("");
  const [query, setQuery] = useState("");
  const list = usePaged(
    (cursor, signal) =>
      scope
        ? unwrap(
            scope.api.GET("/v1/users", {
              params: { query: { limit: 25, ...(cursor ? { cursor } : {}), ...(query ? { q: query } : {}) } },
              signal,
            }),
          )
        : Promise.resolve({ data: [] as User[], hasMore: false, nextCursor: null }),
    [scope?.envId, query],
  );
  return (
    <>
      <PageHeader title="Users" subtitle={<EnvironmentNote>The people who sign in to your product.</EnvironmentNote>} />
      {!scope ? (
        <NoEnvironment />
      ) : (
        <>
          <form
            class="filters"
            aria-label="Search users"
            onSubmit={(e) => {
              e.preventDefault();
              setQuery(q.trim());
            }}
          >
            <label for="user-search">Search</label>
            <input
              id="user-search"
              type="search"
              placeholder="Email or name"
              maxLength={200}
              value={q}
              onInput={(e) => setQ(e.currentTarget.value)}
            />
            <button type="submit" class="button">
              Search
            </button>
          </form>
          <Show state={list.state} what="users" retry={list.reload}>
            {() =>
              list.items.length === 0 ? (
                <Empty>{query ? "No user matches." : "This environment has no users yet."}</Empty>
              ) : (
                <>
                  <table class="table">
                    <caption class="visually-hidden">Users</caption>
                    <thead>
                      <tr>
                        <th scope="col">Email</th>
                        <th scope="col">Name</th>
                        <th scope="col">Email verified</th>
                        <th scope="col">State</th>
                        <th scope="col">Created</th>
                      </tr>
                    </thead>
                    <tbody>
                      {list.items.map((u) => (
                        <tr key={u.id}>
                          <td>
                            <Link href={`/users/${u.id}`}>{u.email}</Link>
                          </td>
                          <td>{u.name ?? <span class="muted">—</span>}</td>
                          <td>{u.emailVerified ? "Yes" : "No"}</td>
                          <td>
                            <UserState user={u} />
                          </td>
                          <td>
                            <Time iso={u.createdAt} />
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
    </>
  );
}

/**
 * UserDetail shows a user with their memberships and live sessions. Admins disable or enable the
 * user (disabling ends every session and credential at once) and end all their sessions.
 */
export function UserDetail({ userId }: { userId: string }) {
  const scope = useScope();
  const [confirm, setConfirm] = useState<"disable" | "enable" | "sessions" | null>(null);
  const [generation, setGeneration] = useState(0);
  const [state, reload] = useLoad(
    async (signal) => {
      if (!scope) throw new Error("no environment");
      return unwrap(scope.api.GET("/v1/users/{userId}", { params: { path: { userId } }, signal }));
    },
    [scope?.envId, userId, generation],
  );
  if (!scope)
    return (
      <>
        <PageHeader title="User" subtitle={<Link href="/users">Users</Link>} />
        <NoEnvironment />
      </>
    );
  const write = canWrite();
  return (
    <>
      {state.status !== "ok" && <PageHeader title="User" subtitle={<Link href="/users">Users</Link>} />}
      <Show state={state} what="the user" retry={reload}>
        {(u) => (
          <>
            <PageHeader
              title={
                <>
                  {u.name ?? u.email} <UserState user={u} />
                </>
              }
              subtitle={
                <>
                  <Link href="/users">Users</Link> / {u.email}
                </>
              }
              actions={
                write &&
                (u.disabled ? (
                  <button type="button" class="button button-primary" onClick={() => setConfirm("enable")}>
                    Enable
                  </button>
                ) : (
                  <button type="button" class="button button-danger" onClick={() => setConfirm("disable")}>
                    Disable
                  </button>
                ))
              }
            />
            <ReadOnlyNote />
            <section class="card">
              <Fields
                rows={[
                  ["Id", <code key="id">{u.id}</code>],
                  ["Email", u.email],
                  ["Email verified", u.emailVerifiedAt ? <Time key="v" iso={u.emailVerifiedAt} /> : "No"],
                  ["Password", u.hasPassword ? "Set" : "None"],
                  ["State", <UserState key="s" user={u} />],
                  ["Created", <Time key="c" iso={u.createdAt} />],
                  ["Updated", <Time key="u" iso={u.updatedAt} />],
                ]}
              />
            </section>
            <Memberships userId={u.id} />
            <Sessions userId={u.id} generation={generation} onEndAll={write ? () => setConfirm("sessions") : null} />
            {confirm && (
              <Confirm
                title={
                  confirm === "disable" ? "Disable user" : confirm === "enable" ? "Enable user" : "End every session"
                }
                open={true}
                danger={confirm !== "enable"}
                confirmLabel={confirm === "disable" ? "Disable" : confirm === "enable" ? "Enable" : "End sessions"}
                onClose={(done) => {
                  setConfirm(null);
                  if (done) setGeneration((g) => g + 1);
                }}
                act={() =>
                  confirm === "sessions"
                    ? unwrap(
                        scope.api.POST("/v1/users/{userId}/sessions/revoke", { params: { path: { userId: u.id } } }),
                      )
                    : unwrap(
                        scope.api.PATCH("/v1/users/{userId}", {
                          params: { path: { userId: u.id } },
                          body: { disabled: confirm === "disable" },
                        }),
                      )
                }
              >
                <p>
                  <strong>{u.email}</strong>:{" "}
                  {confirm === "disable"
                    ? "every session and credential of the user ends at once, and they cannot sign in until enabled again."
                    : confirm === "enable"
                      ? "the user can sign in again."
                      : "every live session of the user ends at once; they sign in again."}
                </p>
              </Confirm>
            )}
          </>
        )}
      </Show>
    </>
  );
}

/**
 * Memberships: the tenants the user belongs to. There is no route listing one user's memberships,
 * so they are read from the user's data export (`GET /v1/users/{id}/export`, its access part).
 */
function Memberships({ userId }: { userId: string }) {
  // biome-ignore lint/style/noNonNullAssertion: rendered only with an environment.
  const scope = useScope()!;
  const [state, reload] = useLoad(
    async (signal) => {
      const data = await unwrap(scope.api.GET("/v1/users/{userId}/export", { params: { path: { userId } }, signal }));
      const access = data.modules.access as { memberships?: UserMembership[] } | undefined;
      return access?.memberships ?? [];
    },
    [scope.envId, userId],
  );
  return (
    <section aria-labelledby="memberships-title">
      <h2 id="memberships-title">Memberships</h2>
      <Show state={state} what="memberships" retry={reload}>
        {(list) =>
          list.length === 0 ? (
            <Empty>The user belongs to no tenant.</Empty>
          ) : (
            <table class="table">
              <caption class="visually-hidden">Memberships</caption>
              <thead>
                <tr>
                  <th scope="col">Tenant</th>
                  <th scope="col">Roles</th>
                </tr>
              </thead>
              <tbody>
                {list.map((m) => (
                  <tr key={m.id}>
                    <td>
                      <TenantLink id={m.tenantId} />
                    </td>
                    <td>
                      {m.roles.map((r) => (
                        <code key={r} class="chip">
                          {r}
                        </code>
                      ))}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )
        }
      </Show>
    </section>
  );
}

/** Sessions: the user's live sessions; admins end them all (one at a time is not offered by the API). */
function Sessions({
  userId,
  generation,
  onEndAll,
}: {
  userId: string;
  generation: number;
  onEndAll: (() => void) | null;
}) {
  // biome-ignore lint/style/noNonNullAssertion: rendered only with an environment.
  const scope = useScope()!;
  const list = usePaged(
    (cursor, signal) =>
      unwrap(
        scope.api.GET("/v1/users/{userId}/sessions", {
          params: { path: { userId }, query: { limit: 50, ...(cursor ? { cursor } : {}) } },
          signal,
        }),
      ),
    [scope.envId, userId, generation],
  );
  return (
    <section aria-labelledby="sessions-title">
      <div class="section-header">
        <h2 id="sessions-title">Sessions</h2>
        {onEndAll && list.items.length > 0 && (
          <button type="button" class="button button-danger" onClick={onEndAll}>
            End all sessions
          </button>
        )}
      </div>
      <Show state={list.state} what="sessions" retry={list.reload}>
        {() =>
          list.items.length === 0 ? (
            <Empty>No live sessions.</Empty>
          ) : (
            <>
              <table class="table">
                <caption class="visually-hidden">Sessions</caption>
                <thead>
                  <tr>
                    <th scope="col">Signed in</th>
                    <th scope="col">Method</th>
                    <th scope="col">Last used</th>
                    <th scope="col">Expires</th>
                    <th scope="col">IP</th>
                    <th scope="col">Browser</th>
                  </tr>
                </thead>
                <tbody>
                  {list.items.map((s) => (
                    <tr key={s.id}>
                      <td>
                        <Time iso={s.createdAt} />
                      </td>
                      <td>
                        {s.authMethod}
                        {s.aal >= 2 && <Badge tone="good">2FA</Badge>}
                      </td>
                      <td>
                        <Time iso={s.lastUsedAt} />
                      </td>
                      <td>
                        <Time iso={s.expiresAt} />
                      </td>
                      <td>{s.ip ? <code>{s.ip}</code> : <span class="muted">—</span>}</td>
                      <td class="small">{s.userAgent ?? <span class="muted">—</span>}</td>
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
