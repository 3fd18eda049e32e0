import { type components, unwrap } from "@baseplate/sdk";
import { useState } from "preact/hooks";
import { Badge, Dialog, Empty, PageHeader, ProblemNotice, Show, Time, useAction, useLoad } from "../ui.js";
import { portal } from "./api.js";

type Invitation = components["schemas"]["Invitation"];

/** MembersSection: the tenant's members (roles, removal) and invitations (invite, revoke). */
export function MembersSection({ tenantId }: { tenantId: string }) {
  const path = { path: { tenantId } };
  const [members, reloadMembers] = useLoad(
    (signal) =>
      unwrap(portal.GET("/v1/tenants/{tenantId}/members", { params: { ...path, query: { limit: 100 } }, signal })),
    [tenantId],
  );
  const [invitations, reloadInvitations] = useLoad(
    (signal) =>
      unwrap(portal.GET("/v1/tenants/{tenantId}/invitations", { params: { ...path, query: { limit: 100 } }, signal })),
    [tenantId],
  );
  const [inviting, setInviting] = useState(false);
  return (
    <>
      <PageHeader
        title="Members"
        subtitle="The people of your organisation and their roles."
        actions={
          <button type="button" class="button button-primary" onClick={() => setInviting(true)}>
            Invite
          </button>
        }
      />
      <Show state={members} what="members" retry={reloadMembers}>
        {(page) =>
          page.data.length === 0 ? (
            <Empty>No members yet.</Empty>
          ) : (
            <table class="table">
              <caption class="visually-hidden">Members</caption>
              <thead>
                <tr>
                  <th scope="col">User</th>
                  <th scope="col">Roles</th>
                  <th scope="col">Since</th>
                  <th scope="col">
                    <span class="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {page.data.map((m) => (
                  <tr key={m.id}>
                    <td>
                      <code>{m.userId}</code>
                    </td>
                    <td>{m.roles.join(", ")}</td>
                    <td>
                      <Time iso={m.createdAt} />
                    </td>
                    <td class="cell-actions">
                      <Confirmed
                        label="Remove"
                        title="Remove this member?"
                        text="They lose access to your organisation at once."
                        run={() =>
                          unwrap(
                            portal.DELETE("/v1/tenants/{tenantId}/members/{membershipId}", {
                              params: { path: { tenantId, membershipId: m.id } },
                            }),
                          )
                        }
                        onDone={reloadMembers}
                      />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )
        }
      </Show>
      <h2 class="section-header">Invitations</h2>
      <Show state={invitations} what="invitations" retry={reloadInvitations}>
        {(page) =>
          page.data.length === 0 ? (
            <Empty>No invitations.</Empty>
          ) : (
            <table class="table">
              <caption class="visually-hidden">Invitations</caption>
              <thead>
                <tr>
                  <th scope="col">Email</th>
                  <th scope="col">Roles</th>
                  <th scope="col">Status</th>
                  <th scope="col">Expires</th>
                  <th scope="col">
                    <span class="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {page.data.map((i: Invitation) => (
                  <tr key={i.id}>
                    <td>{i.email}</td>
                    <td>{i.roles.join(", ")}</td>
                    <td>
                      <Badge tone={i.status === "pending" ? "warn" : "neutral"}>{i.status}</Badge>
                    </td>
                    <td>
                      <Time iso={i.expiresAt} />
                    </td>
                    <td class="cell-actions">
                      {i.status === "pending" && (
                        <Confirmed
                          label="Revoke"
                          title={`Revoke the invitation of ${i.email}?`}
                          text="The invitation link stops working."
                          run={() =>
                            unwrap(
                              portal.POST("/v1/tenants/{tenantId}/invitations/{invitationId}/revoke", {
                                params: { path: { tenantId, invitationId: i.id } },
                              }),
                            )
                          }
                          onDone={reloadInvitations}
                        />
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )
        }
      </Show>
      <Dialog title="Invite a member" open={inviting} onClose={() => setInviting(false)}>
        <Invite
          tenantId={tenantId}
          onDone={(done) => {
            setInviting(false);
            if (done) reloadInvitations();
          }}
        />
      </Dialog>
    </>
  );
}

function Invite({ tenantId, onDone }: { tenantId: string; onDone: (done: boolean) => void }) {
  const [email, setEmail] = useState("");
  const [roles, setRoles] = useState("");
  const action = useAction();
  const submit = async (ev: Event) => {
    ev.preventDefault();
    const keys = roles
      .split(/[\s,]+/)
      .map((r) => r.trim())
      .filter(Boolean);
    const ok = await action.run(() =>
      unwrap(
        portal.POST("/v1/tenants/{tenantId}/invitations", {
          params: { path: { tenantId } },
          body: { email, roles: keys },
        }),
      ),
    );
    if (ok) onDone(true);
  };
  return (
    <form class="form" onSubmit={submit}>
      <label>
        Email
        <input type="email" required value={email} onInput={(e) => setEmail(e.currentTarget.value)} />
      </label>
      <label>
        Roles (keys, comma-separated)
        <input
          required
          value={roles}
          aria-describedby="invite-roles-hint"
          onInput={(e) => setRoles(e.currentTarget.value)}
        />
      </label>
      <p id="invite-roles-hint" class="muted small">
        The portal can give the roles your product set up for it: roles whose permissions this portal holds itself.
      </p>
      {action.problem && <ProblemNotice problem={action.problem} />}
      <div class="form-actions">
        <button type="button" class="button" onClick={() => onDone(false)}>
          Cancel
        </button>
        <button type="submit" class="button button-primary" disabled={action.busy}>
          Send invitation
        </button>
      </div>
    </form>
  );
}

/** Confirmed is a button whose action is confirmed in a dialog first. */
export function Confirmed({
  label,
  title,
  text,
  run,
  onDone,
}: {
  label: string;
  title: string;
  text: string;
  run: () => Promise<unknown>;
  onDone: () => void;
}) {
  const [open, setOpen] = useState(false);
  const action = useAction();
  return (
    <>
      <button type="button" class="button button-small button-danger" onClick={() => setOpen(true)}>
        {label}
      </button>
      <Dialog title={title} open={open} onClose={() => setOpen(false)}>
        <p>{text}</p>
        {action.problem && <ProblemNotice problem={action.problem} />}
        <div class="form-actions">
          <button type="button" class="button" onClick={() => setOpen(false)}>
            Cancel
          </button>
          <button
            type="button"
            class="button button-danger"
            disabled={action.busy}
            onClick={async () => {
              if (await action.run(run)) {
                setOpen(false);
                onDone();
              }
            }}
          >
            {label}
          </button>
        </div>
      </Dialog>
    </>
  );
}
