import { type Baseplate, type components, unwrap } from "@baseplate/sdk";
import { useState } from "preact/hooks";
import { inEnvironment } from "../api.js";
import { InEnvironment, Json, Pager, Short, toIso, toLocalInput, usePages } from "../lists.js";
import { Link } from "../router.js";
import { session } from "../session.js";
import {
  Badge,
  Copyable,
  Dialog,
  Empty,
  Fields,
  PageHeader,
  ProblemNotice,
  Show,
  Time,
  useAction,
  useLoad,
} from "../ui.js";

type Endpoint = components["schemas"]["Endpoint"];
type Message = components["schemas"]["WebhookMessage"];
type Attempt = components["schemas"]["WebhookAttempt"];

/**
 * Webhooks: the selected environment's endpoints with their health, and one endpoint's deliveries
 * (messages) with every attempt's request and response. Admins resend a message, recover an
 * endpoint (enable it again and resend its failed messages) and rotate its signing secret (the new
 * secret is shown once). Support operators read only.
 */

const isAdmin = () => session.value?.operator.role === "admin";

function ReadOnlyNote() {
  return <p class="muted small">Read-only: support operators can read webhooks; changes need an admin.</p>;
}

/** Health summarises an endpoint's deliveries, read from its messages (up to HEALTH_SCAN of them). */
interface Health {
  /** attempted: messages with at least one attempt (settled or retrying). */
  attempted: number;
  delivered: number;
  /** failing: messages whose last attempt failed (failed, or pending a retry). */
  failing: number;
  lastFailure: { at: string; statusCode: number | null; messageId: string } | null;
  scanned: number;
  capped: boolean;
}

const HEALTH_SCAN = 1000;

async function health(client: Baseplate, endpointId: string, signal: AbortSignal): Promise<Health> {
  const h: Health = { attempted: 0, delivered: 0, failing: 0, lastFailure: null, scanned: 0, capped: false };
  for await (const m of client.paginate("/v1/webhooks/endpoints/{endpointId}/messages", {
    path: { endpointId },
    query: { limit: 100 },
    signal,
  })) {
    h.scanned++;
    if (m.status === "succeeded") {
      h.attempted++;
      h.delivered++;
    } else if (m.lastAttemptAt && (m.status === "failed" || (m.status === "pending" && m.attempts > 0))) {
      h.attempted++;
      h.failing++;
      if (!h.lastFailure || m.lastAttemptAt > h.lastFailure.at) {
        h.lastFailure = { at: m.lastAttemptAt, statusCode: m.lastStatusCode, messageId: m.id };
      }
    }
    if (h.scanned >= HEALTH_SCAN) {
      h.capped = true;
      break;
    }
  }
  return h;
}

function StateBadge({ e }: { e: Endpoint }) {
  if (!e.enabled) return <Badge tone="bad">disabled{e.disabledReason ? `: ${e.disabledReason}` : ""}</Badge>;
  if (e.failingSince) return <Badge tone="warn">failing</Badge>;
  return <Badge tone="good">enabled</Badge>;
}

function Rate({ h }: { h: Health }) {
  if (h.attempted === 0) return <span class="muted">no deliveries yet</span>;
  const pct = Math.round((h.delivered / h.attempted) * 1000) / 10;
  return (
    <span title={`${h.delivered} of ${h.attempted} delivered${h.capped ? ` (first ${HEALTH_SCAN} messages)` : ""}`}>
      <Badge tone={pct >= 99 ? "good" : pct >= 90 ? "warn" : "bad"}>{pct}%</Badge>{" "}
      <span class="muted small">
        {h.delivered}/{h.attempted}
      </span>
    </span>
  );
}

function LastFailure({ h }: { h: Health }) {
  if (!h.lastFailure) return <span class="muted">none</span>;
  return (
    <span>
      <Time iso={h.lastFailure.at} />{" "}
      <span class="muted small">
        {h.lastFailure.statusCode !== null ? `HTTP ${h.lastFailure.statusCode}` : "no answer"}
      </span>
    </span>
  );
}

export function Webhooks() {
  return (
    <>
      <PageHeader
        title="Webhooks"
        subtitle="Endpoints receiving the environment's events, signed (Standard Webhooks)."
      />
      <InEnvironment>{(id) => <EndpointList key={id} client={inEnvironment(id)} />}</InEnvironment>
    </>
  );
}

function EndpointList({ client }: { client: Baseplate }) {
  const pages = usePages();
  const [state, reload] = useLoad(
    async (signal) => {
      const page = await unwrap(
        client.GET("/v1/webhooks/endpoints", {
          params: { query: { limit: 25, ...(pages.cursor ? { cursor: pages.cursor } : {}) } },
          signal,
        }),
      );
      const healths = await Promise.all(page.data.map((e) => health(client, e.id, signal).catch(() => null)));
      return { page, healths };
    },
    [pages.cursor],
  );
  return (
    <Show state={state} what="webhook endpoints" retry={reload}>
      {({ page, healths }) =>
        page.data.length === 0 ? (
          <Empty>No webhook endpoint in this environment. Products create them with the API or SDK.</Empty>
        ) : (
          <>
            <table class="table">
              <caption class="visually-hidden">Webhook endpoints</caption>
              <thead>
                <tr>
                  <th scope="col">Endpoint</th>
                  <th scope="col">Events</th>
                  <th scope="col">State</th>
                  <th scope="col">Success rate</th>
                  <th scope="col">Last failure</th>
                </tr>
              </thead>
              <tbody>
                {page.data.map((e, i) => {
                  const h = healths[i];
                  return (
                    <tr key={e.id}>
                      <td>
                        <Link href={`/webhooks/${e.id}`}>{e.description || e.url}</Link>
                        <br />
                        <code class="id">{e.url}</code>
                        {e.tenantId && <span class="muted small"> · tenant {e.tenantId}</span>}
                      </td>
                      <td>
                        {e.eventTypes.length === 0 ? (
                          <span class="muted">all</span>
                        ) : (
                          e.eventTypes.map((t) => (
                            <code key={t} class="chip">
                              {t}
                            </code>
                          ))
                        )}
                      </td>
                      <td>
                        <StateBadge e={e} />
                        {e.failingSince && e.enabled && (
                          <span class="muted small">
                            {" "}
                            since <Time iso={e.failingSince} />
                          </span>
                        )}
                      </td>
                      <td>{h ? <Rate h={h} /> : <span class="muted">unavailable</span>}</td>
                      <td>{h ? <LastFailure h={h} /> : <span class="muted">unavailable</span>}</td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
            <Pager
              label="Endpoints"
              page={pages.page}
              nextCursor={page.nextCursor}
              onNext={pages.next}
              onPrevious={pages.previous}
            />
          </>
        )
      }
    </Show>
  );
}

export function WebhookEndpoint({ endpointId }: { endpointId: string }) {
  return (
    <InEnvironment>
      {(id) => <EndpointDetail key={`${id}:${endpointId}`} client={inEnvironment(id)} endpointId={endpointId} />}
    </InEnvironment>
  );
}

/** recordReason writes the operator's reason for a change into the environment's audit chain. */
async function recordReason(client: Baseplate, endpointId: string, action: string, reason: string) {
  await unwrap(
    client.POST("/v1/audit/entries", {
      body: {
        action: "operator.reason_given",
        targets: [{ type: "webhook_endpoint", id: endpointId }],
        metadata: { action, reason },
      },
    }),
  );
}

function EndpointDetail({ client, endpointId }: { client: Baseplate; endpointId: string }) {
  const [state, reload] = useLoad(
    async (signal) => {
      const [endpoint, h] = await Promise.all([
        unwrap(client.GET("/v1/webhooks/endpoints/{endpointId}", { params: { path: { endpointId } }, signal })),
        health(client, endpointId, signal),
      ]);
      return { endpoint, health: h };
    },
    [endpointId],
  );
  const [dialog, setDialog] = useState<"rotate" | "recover" | null>(null);
  const [secret, setSecret] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [messagesVersion, setMessagesVersion] = useState(0);
  const admin = isAdmin();
  return (
    <>
      {state.status !== "ok" && (
        <PageHeader title="Webhook endpoint" subtitle={<Link href="/webhooks">Webhooks</Link>} />
      )}
      <Show state={state} what="the endpoint" retry={reload}>
        {({ endpoint: e, health: h }) => (
          <>
            <PageHeader
              title={e.description || "Webhook endpoint"}
              subtitle={
                <>
                  <Link href="/webhooks">Webhooks</Link> / <code>{e.url}</code>
                </>
              }
              actions={
                admin && (
                  <>
                    <button type="button" class="button" onClick={() => setDialog("recover")}>
                      {e.enabled ? "Recover failed messages" : "Recover endpoint"}
                    </button>
                    <button type="button" class="button button-danger" onClick={() => setDialog("rotate")}>
                      Rotate secret
                    </button>
                  </>
                )
              }
            />
            {!admin && <ReadOnlyNote />}
            {secret && (
              <div class="notice notice-success" role="status">
                <p class="notice-title">New signing secret</p>
                <p>Copy it now into the receiver's configuration: it is shown only once.</p>
                <Copyable value={secret} label="the new signing secret" />
                <p>
                  <button type="button" class="button button-small" onClick={() => setSecret(null)}>
                    I have stored it
                  </button>
                </p>
              </div>
            )}
            {notice && (
              <p class="notice notice-info" role="status">
                {notice}
              </p>
            )}
            {!e.enabled && (
              <p class="notice notice-warn">
                This endpoint is disabled
                {e.disabledReason === "gone"
                  ? " (the receiver answered 410 Gone)"
                  : e.disabledReason === "failing"
                    ? " (every delivery failed for 5 days)"
                    : e.disabledReason === "manual"
                      ? " (by hand)"
                      : ""}
                {e.disabledAt && (
                  <>
                    {" "}
                    since <Time iso={e.disabledAt} />
                  </>
                )}
                : nothing is delivered to it until it is recovered.
              </p>
            )}
            <section class="card">
              <Fields
                rows={[
                  ["Id", <code key="id">{e.id}</code>],
                  ["State", <StateBadge key="s" e={e} />],
                  ["Success rate", <Rate key="r" h={h} />],
                  ["Last failure", <LastFailure key="f" h={h} />],
                  ["Failing since", <Time key="fs" iso={e.failingSince} />],
                  [
                    "Events",
                    e.eventTypes.length === 0
                      ? "all"
                      : e.eventTypes.map((t) => (
                          <code key={t} class="chip">
                            {t}
                          </code>
                        )),
                  ],
                  ["Tenant", e.tenantId ? <code key="t">{e.tenantId}</code> : "environment-wide"],
                  ["Rate limit", e.rateLimitPerSecond ? `${e.rateLimitPerSecond}/s` : "none"],
                  [
                    "Secret",
                    e.secretRotatingUntil ? (
                      <span key="sr">
                        rotating: old one valid until <Time iso={e.secretRotatingUntil} />
                      </span>
                    ) : (
                      "current"
                    ),
                  ],
                  ["Created", <Time key="c" iso={e.createdAt} />],
                ]}
              />
            </section>
            <Dialog title="Rotate signing secret" open={dialog === "rotate"} onClose={() => setDialog(null)}>
              <RotateSecret
                client={client}
                endpoint={e}
                onDone={(s) => {
                  setDialog(null);
                  if (s) {
                    setSecret(s);
                    reload();
                  }
                }}
              />
            </Dialog>
            <Dialog
              title={e.enabled ? "Recover failed messages" : "Recover endpoint"}
              open={dialog === "recover"}
              onClose={() => setDialog(null)}
            >
              <Recover
                client={client}
                endpoint={e}
                onDone={(recovered) => {
                  setDialog(null);
                  if (recovered !== null) {
                    setNotice(
                      `${e.enabled ? "" : "Endpoint enabled. "}${recovered} failed message${recovered === 1 ? "" : "s"} put back in line.`,
                    );
                    reload();
                    setMessagesVersion((v) => v + 1);
                  }
                }}
              />
            </Dialog>
          </>
        )}
      </Show>
      {/* Outside the endpoint's Show: reloading the endpoint (its health) keeps the open message. */}
      {state.status !== "error" && (
        <Messages key={messagesVersion} client={client} endpointId={endpointId} admin={admin} onChange={reload} />
      )}
    </>
  );
}

function ReasonField({ id, value, onInput }: { id: string; value: string; onInput: (v: string) => void }) {
  return (
    <>
      <label for={id}>Reason (recorded in the audit log)</label>
      <input
        id={id}
        required
        minLength={3}
        maxLength={500}
        placeholder="Receiver fixed after outage INC-1234"
        value={value}
        onInput={(e) => onInput(e.currentTarget.value)}
      />
    </>
  );
}

function RotateSecret({
  client,
  endpoint,
  onDone,
}: {
  client: Baseplate;
  endpoint: Endpoint;
  onDone: (secret: string | null) => void;
}) {
  const [grace, setGrace] = useState("86400");
  const [reason, setReason] = useState("");
  const action = useAction();
  const submit = async (ev: Event) => {
    ev.preventDefault();
    let secret: string | null = null;
    const ok = await action.run(async () => {
      const rotated = await unwrap(
        client.POST("/v1/webhooks/endpoints/{endpointId}/rotate-secret", {
          params: { path: { endpointId: endpoint.id } },
          body: { gracePeriodSeconds: Number(grace) },
        }),
      );
      secret = rotated.secret;
      await recordReason(client, endpoint.id, "webhook_endpoint.secret_rotated", reason.trim());
    });
    if (ok) onDone(secret);
    else if (secret) onDone(secret);
  };
  return (
    <form class="form" onSubmit={submit}>
      {action.problem && <ProblemNotice problem={action.problem} />}
      <p>
        Deliveries to <code>{endpoint.url}</code> will be signed with a new secret. The receiver must be given it; until
        the grace period ends, deliveries carry a signature with the old secret too.
      </p>
      <label for="rotate-grace">Old secret stays valid for</label>
      <select id="rotate-grace" value={grace} onChange={(e) => setGrace(e.currentTarget.value)}>
        <option value="0">no grace period (old secret stops now)</option>
        <option value="3600">1 hour</option>
        <option value="86400">24 hours</option>
        <option value="604800">7 days</option>
      </select>
      <ReasonField id="rotate-reason" value={reason} onInput={setReason} />
      <div class="form-actions">
        <button type="button" class="button" onClick={() => onDone(null)}>
          Cancel
        </button>
        <button type="submit" class="button button-danger" disabled={action.busy || reason.trim().length < 3}>
          {action.busy ? "Rotating…" : "Rotate secret"}
        </button>
      </div>
    </form>
  );
}

function Recover({
  client,
  endpoint,
  onDone,
}: {
  client: Baseplate;
  endpoint: Endpoint;
  onDone: (recovered: number | null) => void;
}) {
  const defaultSince = endpoint.failingSince
    ? Date.parse(endpoint.failingSince)
    : endpoint.disabledAt
      ? Date.parse(endpoint.disabledAt) - 86_400_000
      : Date.now() - 86_400_000;
  const [since, setSince] = useState(toLocalInput(defaultSince));
  const [reason, setReason] = useState("");
  const action = useAction();
  const submit = async (ev: Event) => {
    ev.preventDefault();
    let recovered: number | null = null;
    const ok = await action.run(async () => {
      if (!endpoint.enabled) {
        await unwrap(
          client.PATCH("/v1/webhooks/endpoints/{endpointId}", {
            params: { path: { endpointId: endpoint.id } },
            body: { enabled: true },
          }),
        );
      }
      const result = await unwrap(
        client.POST("/v1/webhooks/endpoints/{endpointId}/recover", {
          params: { path: { endpointId: endpoint.id } },
          body: { since: toIso(since) },
        }),
      );
      recovered = result.recovered;
      await recordReason(client, endpoint.id, "webhook_endpoint.recovered", reason.trim());
    });
    if (ok || recovered !== null) onDone(recovered);
  };
  return (
    <form class="form" onSubmit={submit}>
      {action.problem && <ProblemNotice problem={action.problem} />}
      <p>
        {endpoint.enabled ? "" : "The endpoint is enabled again, then "}every failed message created since this time is
        sent again, with a fresh set of attempts.
      </p>
      <label for="recover-since">Failed since</label>
      <input
        id="recover-since"
        type="datetime-local"
        required
        value={since}
        onInput={(e) => setSince(e.currentTarget.value)}
      />
      <ReasonField id="recover-reason" value={reason} onInput={setReason} />
      <div class="form-actions">
        <button type="button" class="button" onClick={() => onDone(null)}>
          Cancel
        </button>
        <button
          type="submit"
          class="button button-primary"
          disabled={action.busy || reason.trim().length < 3 || !toIso(since)}
        >
          {action.busy ? "Recovering…" : endpoint.enabled ? "Resend failed messages" : "Enable and resend"}
        </button>
      </div>
    </form>
  );
}

const STATUS_TONE: Record<Message["status"], "good" | "warn" | "bad" | "neutral"> = {
  succeeded: "good",
  pending: "warn",
  paused: "neutral",
  failed: "bad",
};

function Messages({
  client,
  endpointId,
  admin,
  onChange,
}: {
  client: Baseplate;
  endpointId: string;
  admin: boolean;
  onChange: () => void;
}) {
  const [status, setStatus] = useState<"" | Message["status"]>("");
  const pages = usePages();
  const [selected, setSelected] = useState<string | null>(null);
  const [state, reload] = useLoad(
    (signal) =>
      unwrap(
        client.GET("/v1/webhooks/endpoints/{endpointId}/messages", {
          params: {
            path: { endpointId },
            query: { limit: 25, ...(status ? { status } : {}), ...(pages.cursor ? { cursor: pages.cursor } : {}) },
          },
          signal,
        }),
      ),
    [status, pages.cursor],
  );
  const resend = useAction();
  const [attemptsVersion, setAttemptsVersion] = useState(0);
  return (
    <section class="messages">
      <h2>Messages</h2>
      <div class="filters">
        <div class="filter">
          <label for="message-status">Status</label>
          <select
            id="message-status"
            value={status}
            onChange={(e) => {
              setStatus(e.currentTarget.value as typeof status);
              pages.reset();
            }}
          >
            <option value="">any</option>
            <option value="failed">failed</option>
            <option value="pending">pending</option>
            <option value="paused">paused</option>
            <option value="succeeded">succeeded</option>
          </select>
        </div>
        <div class="filter-actions">
          <button
            type="button"
            class="button"
            onClick={() => {
              reload();
              setAttemptsVersion((v) => v + 1);
            }}
          >
            Refresh
          </button>
        </div>
      </div>
      {resend.problem && <ProblemNotice problem={resend.problem} />}
      <Show state={state} what="messages" retry={reload}>
        {(page) =>
          page.data.length === 0 ? (
            <Empty>{status ? `No ${status} message.` : "Nothing was sent to this endpoint yet."}</Empty>
          ) : (
            <>
              <table class="table">
                <caption class="visually-hidden">Messages</caption>
                <thead>
                  <tr>
                    <th scope="col">Event</th>
                    <th scope="col">Status</th>
                    <th scope="col">Attempts</th>
                    <th scope="col">Last answer</th>
                    <th scope="col">Last attempt</th>
                    <th scope="col">
                      <span class="visually-hidden">Actions</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {page.data.map((m) => (
                    <tr key={m.id} class={selected === m.id ? "row-selected" : ""}>
                      <td>
                        <code>{m.eventType}</code>
                        <br />
                        <Short value={m.id} size={16} />
                      </td>
                      <td>
                        <Badge tone={STATUS_TONE[m.status]}>{m.status}</Badge>
                        {m.status === "pending" && m.nextAttemptAt && (
                          <span class="muted small">
                            {" "}
                            next <Time iso={m.nextAttemptAt} />
                          </span>
                        )}
                      </td>
                      <td>{m.attempts}</td>
                      <td>
                        {m.lastStatusCode !== null ? (
                          `HTTP ${m.lastStatusCode}`
                        ) : (
                          <span class="muted">{m.attempts > 0 ? "no answer" : "—"}</span>
                        )}
                      </td>
                      <td>
                        <Time iso={m.lastAttemptAt} />
                      </td>
                      <td class="cell-actions">
                        <button
                          type="button"
                          class="button button-small"
                          aria-pressed={selected === m.id}
                          aria-label={`Attempts of ${m.id}`}
                          onClick={() => setSelected(selected === m.id ? null : m.id)}
                        >
                          Attempts
                        </button>{" "}
                        {admin && (
                          <button
                            type="button"
                            class="button button-small"
                            disabled={resend.busy}
                            aria-label={`Resend ${m.id}`}
                            onClick={() =>
                              resend
                                .run(() =>
                                  unwrap(
                                    client.POST("/v1/webhooks/messages/{messageId}/resend", {
                                      params: { path: { messageId: m.id } },
                                    }),
                                  ),
                                )
                                .then((ok) => {
                                  if (!ok) return;
                                  reload();
                                  onChange();
                                  setSelected(m.id);
                                  setAttemptsVersion((v) => v + 1);
                                })
                            }
                          >
                            Resend
                          </button>
                        )}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
              <Pager
                label="Messages"
                page={pages.page}
                nextCursor={page.nextCursor}
                onNext={pages.next}
                onPrevious={pages.previous}
              />
            </>
          )
        }
      </Show>
      {selected && <MessageDetail key={`${selected}:${attemptsVersion}`} client={client} messageId={selected} />}
    </section>
  );
}

/**
 * eventOf reads a message's event, or null when it left the log (retention). A tenant's event is
 * the tenant's own: an operator reads it only under support access to that tenant (`"support"`
 * without one, asked first so the console does not knock on a refusal).
 */
async function eventOf(
  client: Baseplate,
  message: { eventId: string; tenantId: string | null },
  signal: AbortSignal,
): Promise<unknown> {
  const me = session.value?.operator.id;
  if (message.tenantId && me) {
    const live = await unwrap(
      client.GET("/v1/support-access", {
        params: { query: { tenantId: message.tenantId, operatorId: me, status: "active", limit: 1 } },
        signal,
      }),
    );
    if (live.data.length === 0) return "support";
  }
  return unwrap(client.GET("/v1/events/{eventId}", { params: { path: { eventId: message.eventId } }, signal })).catch(
    () => null,
  );
}

/** MessageDetail: one message's request (the event, as delivered) and every attempt's answer. */
function MessageDetail({ client, messageId }: { client: Baseplate; messageId: string }) {
  const [state, reload] = useLoad(
    async (signal) => {
      const message = await unwrap(
        client.GET("/v1/webhooks/messages/{messageId}", { params: { path: { messageId } }, signal }),
      );
      const [attempts, event] = await Promise.all([
        unwrap(
          client.GET("/v1/webhooks/messages/{messageId}/attempts", {
            params: { path: { messageId }, query: { limit: 100 } },
            signal,
          }),
        ),
        // The request body is the event itself; it may have left the log (retention).
        eventOf(client, message, signal),
      ]);
      return { message, attempts: attempts.data, event };
    },
    [messageId],
  );
  return (
    <section class="card message-detail" aria-label={`Message ${messageId}`}>
      <Show state={state} what="the attempts" retry={reload}>
        {({ message, attempts, event }) => (
          <>
            <h3>
              Message <code>{message.id}</code> <Badge tone={STATUS_TONE[message.status]}>{message.status}</Badge>
            </h3>
            <h4>Request</h4>
            <p class="muted small">
              <code>POST</code> with headers <code>webhook-id: {message.id}</code>, <code>webhook-timestamp</code>,{" "}
              <code>webhook-signature</code>; the body is the event:
            </p>
            {event === "support" ? (
              <Empty>
                The event {message.eventId} belongs to a tenant: its payload is shown to operators under support access
                to that tenant (ask for it on the tenant's page).
              </Empty>
            ) : event ? (
              <Json label={`Request body of ${message.id}`} value={event} />
            ) : (
              <Empty>The event {message.eventId} is no longer in the log.</Empty>
            )}
            <h4>Attempts</h4>
            {attempts.length === 0 ? (
              <Empty>No attempt yet{message.status === "pending" ? ": it is in line" : ""}.</Empty>
            ) : (
              <ol class="attempts">
                {attempts.map((a) => (
                  <AttemptItem key={a.id} a={a} />
                ))}
              </ol>
            )}
          </>
        )}
      </Show>
    </section>
  );
}

function AttemptItem({ a }: { a: Attempt }) {
  return (
    <li class="attempt">
      <p>
        <strong>Attempt {a.attempt}</strong>{" "}
        <Badge tone={a.outcome === "succeeded" ? "good" : "bad"}>{a.outcome}</Badge>{" "}
        {a.statusCode !== null ? <code>HTTP {a.statusCode}</code> : <span class="muted">no answer</span>}{" "}
        <span class="muted small">
          {a.durationMs} ms · <Time iso={a.createdAt} />
        </span>
      </p>
      {a.error && (
        <p class="attempt-error">
          Error: <code>{a.error}</code>
        </p>
      )}
      {a.responseBody !== null && a.responseBody !== "" && (
        <>
          <p class="muted small">Response body (first 1 KiB)</p>
          <pre class="pem">{a.responseBody}</pre>
        </>
      )}
    </li>
  );
}
