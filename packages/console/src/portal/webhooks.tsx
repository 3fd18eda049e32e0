import { type components, unwrap } from "@baseplate/sdk";
import { useState } from "preact/hooks";
import { Badge, Copyable, Dialog, Empty, PageHeader, ProblemNotice, Show, Time, useAction, useLoad } from "../ui.js";
import { portal } from "./api.js";

type Endpoint = components["schemas"]["Endpoint"];
type Message = components["schemas"]["WebhookMessage"];

/**
 * WebhooksSection: the tenant's own webhook endpoints. Create one (its signing secret is shown
 * once), rotate its secret, read its deliveries with every attempt, and resend one.
 */
export function WebhooksSection() {
  const [state, reload] = useLoad(
    (signal) => unwrap(portal.GET("/v1/webhooks/endpoints", { params: { query: { limit: 100 } }, signal })),
    [],
  );
  const [creating, setCreating] = useState(false);
  const [secret, setSecret] = useState<{ url: string; secret: string } | null>(null);
  const [open, setOpen] = useState<string | null>(null);
  return (
    <>
      <PageHeader
        title="Webhooks"
        subtitle="Endpoints of your organisation that receive its events, signed with Standard Webhooks."
        actions={
          <button type="button" class="button button-primary" onClick={() => setCreating(true)}>
            Add endpoint
          </button>
        }
      />
      {secret && (
        <SecretShownOnce
          what={`The signing secret of ${secret.url}`}
          value={secret.secret}
          onDone={() => setSecret(null)}
        />
      )}
      <Show state={state} what="webhook endpoints" retry={reload}>
        {(page) =>
          page.data.length === 0 ? (
            <Empty>No endpoints yet. Add one to receive your organisation's events.</Empty>
          ) : (
            <table class="table">
              <caption class="visually-hidden">Webhook endpoints</caption>
              <thead>
                <tr>
                  <th scope="col">URL</th>
                  <th scope="col">Events</th>
                  <th scope="col">State</th>
                  <th scope="col">Created</th>
                  <th scope="col">
                    <span class="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {page.data.map((e) => (
                  <tr key={e.id}>
                    <td>
                      <code>{e.url}</code>
                      {e.description && <div class="muted small">{e.description}</div>}
                    </td>
                    <td>{e.eventTypes.length === 0 ? "All" : e.eventTypes.join(", ")}</td>
                    <td>
                      <EndpointState e={e} />
                    </td>
                    <td>
                      <Time iso={e.createdAt} />
                    </td>
                    <td class="cell-actions">
                      <button
                        type="button"
                        class="button button-small"
                        aria-expanded={open === e.id}
                        onClick={() => setOpen(open === e.id ? null : e.id)}
                      >
                        {open === e.id ? "Hide deliveries" : "Deliveries"}
                      </button>
                      <RotateSecret endpoint={e} onRotated={(s) => setSecret({ url: e.url, secret: s })} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )
        }
      </Show>
      {open && <Deliveries endpointId={open} />}
      <Dialog title="Add a webhook endpoint" open={creating} onClose={() => setCreating(false)}>
        <CreateEndpoint
          onDone={(created) => {
            setCreating(false);
            if (created) {
              setSecret({ url: created.url, secret: created.secret ?? "" });
              reload();
            }
          }}
        />
      </Dialog>
    </>
  );
}

function EndpointState({ e }: { e: Endpoint }) {
  if (!e.enabled) return <Badge tone="bad">disabled</Badge>;
  if (e.failingSince) return <Badge tone="warn">failing</Badge>;
  return <Badge tone="good">enabled</Badge>;
}

/** SecretShownOnce shows a secret the plane will not show again, until the admin dismisses it. */
export function SecretShownOnce({ what, value, onDone }: { what: string; value: string; onDone: () => void }) {
  return (
    <div class="notice notice-success" role="status">
      <p class="notice-title">{what}: copy it now, it is not shown again.</p>
      <Copyable value={value} label="the secret" />
      <p>
        <button type="button" class="button button-small" onClick={onDone}>
          I have stored it
        </button>
      </p>
    </div>
  );
}

function CreateEndpoint({ onDone }: { onDone: (created: components["schemas"]["EndpointWithSecret"] | null) => void }) {
  const [url, setUrl] = useState("https://");
  const [description, setDescription] = useState("");
  const [events, setEvents] = useState("");
  const action = useAction();
  const submit = async (ev: Event) => {
    ev.preventDefault();
    let created: components["schemas"]["EndpointWithSecret"] | null = null;
    const eventTypes = events
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean);
    const ok = await action.run(async () => {
      created = await unwrap(portal.POST("/v1/webhooks/endpoints", { body: { url, description, eventTypes } }));
    });
    if (ok) onDone(created);
  };
  return (
    <form class="form" onSubmit={submit}>
      <label>
        URL
        <input type="url" required value={url} onInput={(e) => setUrl(e.currentTarget.value)} />
      </label>
      <label>
        Description (optional)
        <input value={description} maxLength={500} onInput={(e) => setDescription(e.currentTarget.value)} />
      </label>
      <label>
        Event types (comma-separated; empty: all)
        <input value={events} onInput={(e) => setEvents(e.currentTarget.value)} />
      </label>
      {action.problem && <ProblemNotice problem={action.problem} />}
      <div class="form-actions">
        <button type="button" class="button" onClick={() => onDone(null)}>
          Cancel
        </button>
        <button type="submit" class="button button-primary" disabled={action.busy}>
          Add endpoint
        </button>
      </div>
    </form>
  );
}

function RotateSecret({ endpoint, onRotated }: { endpoint: Endpoint; onRotated: (secret: string) => void }) {
  const [confirming, setConfirming] = useState(false);
  const action = useAction();
  const rotate = async () => {
    let secret = "";
    const ok = await action.run(async () => {
      const r = await unwrap(
        portal.POST("/v1/webhooks/endpoints/{endpointId}/rotate-secret", {
          params: { path: { endpointId: endpoint.id } },
          body: { gracePeriodSeconds: 86_400 },
        }),
      );
      secret = r.secret ?? "";
    });
    if (ok) {
      setConfirming(false);
      onRotated(secret);
    }
  };
  return (
    <>
      <button type="button" class="button button-small" onClick={() => setConfirming(true)}>
        Rotate secret
      </button>
      <Dialog title="Rotate the signing secret" open={confirming} onClose={() => setConfirming(false)}>
        <p>
          A new secret signs deliveries to <code>{endpoint.url}</code>; the old one stays valid for 24 hours so your
          receiver can switch.
        </p>
        {action.problem && <ProblemNotice problem={action.problem} />}
        <div class="form-actions">
          <button type="button" class="button" onClick={() => setConfirming(false)}>
            Cancel
          </button>
          <button type="button" class="button button-primary" disabled={action.busy} onClick={rotate}>
            Rotate
          </button>
        </div>
      </Dialog>
    </>
  );
}

const STATUS_TONE: Record<Message["status"], "good" | "warn" | "bad" | "neutral"> = {
  succeeded: "good",
  pending: "warn",
  failed: "bad",
  paused: "neutral",
};

function Deliveries({ endpointId }: { endpointId: string }) {
  const [state, reload] = useLoad(
    (signal) =>
      unwrap(
        portal.GET("/v1/webhooks/endpoints/{endpointId}/messages", {
          params: { path: { endpointId }, query: { limit: 50 } },
          signal,
        }),
      ),
    [endpointId],
  );
  const [attemptsOf, setAttemptsOf] = useState<string | null>(null);
  return (
    <section class="card" aria-labelledby="deliveries-title">
      <h2 id="deliveries-title">Deliveries</h2>
      <Show state={state} what="deliveries" retry={reload}>
        {(page) =>
          page.data.length === 0 ? (
            <Empty>Nothing was delivered to this endpoint yet.</Empty>
          ) : (
            <table class="table">
              <thead>
                <tr>
                  <th scope="col">Event</th>
                  <th scope="col">Status</th>
                  <th scope="col">Attempts</th>
                  <th scope="col">Last attempt</th>
                  <th scope="col">
                    <span class="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {page.data.map((m) => (
                  <tr key={m.id}>
                    <td>
                      <code>{m.eventType}</code>
                    </td>
                    <td>
                      <Badge tone={STATUS_TONE[m.status]}>{m.status}</Badge>
                    </td>
                    <td>{m.attempts}</td>
                    <td>
                      <Time iso={m.lastAttemptAt} />
                    </td>
                    <td class="cell-actions">
                      <button
                        type="button"
                        class="button button-small"
                        aria-expanded={attemptsOf === m.id}
                        onClick={() => setAttemptsOf(attemptsOf === m.id ? null : m.id)}
                      >
                        Attempts
                      </button>
                      <Resend messageId={m.id} onDone={reload} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )
        }
      </Show>
      {attemptsOf && <Attempts messageId={attemptsOf} />}
    </section>
  );
}

function Resend({ messageId, onDone }: { messageId: string; onDone: () => void }) {
  const action = useAction();
  return (
    <>
      <button
        type="button"
        class="button button-small"
        disabled={action.busy}
        onClick={async () => {
          if (
            await action.run(() =>
              unwrap(portal.POST("/v1/webhooks/messages/{messageId}/resend", { params: { path: { messageId } } })),
            )
          )
            onDone();
        }}
      >
        Resend
      </button>
      {action.problem && <ProblemNotice problem={action.problem} />}
    </>
  );
}

function Attempts({ messageId }: { messageId: string }) {
  const [state, reload] = useLoad(
    (signal) =>
      unwrap(portal.GET("/v1/webhooks/messages/{messageId}/attempts", { params: { path: { messageId } }, signal })),
    [messageId],
  );
  return (
    <Show state={state} what="attempts" retry={reload}>
      {(page) =>
        page.data.length === 0 ? (
          <Empty>No attempt yet.</Empty>
        ) : (
          <ol class="attempts">
            {page.data.map((a) => (
              <li key={a.id} class="attempt">
                Attempt {a.attempt}: <strong>{a.outcome}</strong>
                {a.statusCode !== null && <> · HTTP {a.statusCode}</>} · {a.durationMs} ms · <Time iso={a.createdAt} />
                {a.error && <div class="attempt-error">{a.error}</div>}
              </li>
            ))}
          </ol>
        )
      }
    </Show>
  );
}
