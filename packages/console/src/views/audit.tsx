import { type Baseplate, type components, unwrap } from "@baseplate/sdk";
import { useState } from "preact/hooks";
import { inEnvironment, plane } from "../api.js";
import { environmentId, environments, selectedEnvironment } from "../context.js";
import { StreamedExport } from "../export.js";
import { Json, Pager, Short, toIso, usePages } from "../lists.js";
import { Badge, Empty, Fields, Loading, PageHeader, Show, Time, useLoad } from "../ui.js";

type AuditEntry = components["schemas"]["AuditEntry"];
type Verification = components["schemas"]["Verification"];
type Checkpoint = components["schemas"]["Checkpoint"];

/**
 * Audit shows one tamper-evident audit chain: the selected environment's, one tenant's (in that
 * environment), or the plane's own. Entries are listed newest first with filters and paging; beside
 * them, the chain's verification (`…/audit/verify`), its latest signed checkpoint with the
 * fingerprint of the key that signed it, and an export (JSON Lines, verifiable offline with
 * `baseplate audit verify`).
 */

type Scope = "environment" | "tenant" | "plane";

interface Filters {
  action: string;
  actorId: string;
  actorType: string;
  targetType: string;
  targetId: string;
  from: string;
  to: string;
  order: "newest" | "oldest";
}

const NO_FILTERS: Filters = {
  action: "",
  actorId: "",
  actorType: "",
  targetType: "",
  targetId: "",
  from: "",
  to: "",
  order: "newest",
};

/** query turns the filters into the list's query (empty fields left out, local times as ISO instants). */
function query(f: Filters): Record<string, string> {
  const q: Record<string, string> = {};
  for (const k of ["action", "actorId", "actorType", "targetType", "targetId"] as const) {
    const v = f[k].trim();
    if (v) q[k] = v;
  }
  if (toIso(f.from)) q.from = toIso(f.from);
  if (toIso(f.to)) q.to = toIso(f.to);
  q.order = f.order;
  return q;
}

export function Audit() {
  const env = selectedEnvironment.value;
  // Until the header's lists load, the environment is not known yet: wait rather than show the plane.
  const waiting = env === null && environmentId.value !== null && environments.value === null;
  const [scope, setScope] = useState<Scope>("environment");
  const [tenantId, setTenantId] = useState("");
  const effective: Scope = scope !== "plane" && !env ? "plane" : scope;
  const chainKey = `${effective}:${effective === "plane" ? "" : (environmentId.value ?? "")}:${
    effective === "tenant" ? tenantId : ""
  }`;
  return (
    <>
      <PageHeader
        title="Audit log"
        subtitle="Who did what, hash-chained and signed: every change to the plane and its environments."
      />
      <fieldset class="scope">
        <legend>Chain</legend>
        <label class="radio">
          <input
            type="radio"
            name="audit-scope"
            value="environment"
            checked={effective === "environment"}
            disabled={!env}
            onChange={() => setScope("environment")}
          />{" "}
          Environment {env ? <strong>{env.name}</strong> : <span class="muted">(none selected)</span>}
        </label>
        <label class="radio">
          <input
            type="radio"
            name="audit-scope"
            value="tenant"
            checked={effective === "tenant"}
            disabled={!env}
            onChange={() => setScope("tenant")}
          />{" "}
          One tenant
        </label>
        <label class="radio">
          <input
            type="radio"
            name="audit-scope"
            value="plane"
            checked={effective === "plane"}
            onChange={() => setScope("plane")}
          />{" "}
          The plane (projects, environments, operators)
        </label>
      </fieldset>
      {waiting && <Loading what="the environment" />}
      {effective === "tenant" && env && (
        <TenantPicker client={inEnvironment(env.id)} value={tenantId} onChange={setTenantId} />
      )}
      {waiting ? null : effective === "tenant" && !tenantId ? (
        <Empty>Choose a tenant to see its chain.</Empty>
      ) : (
        <Chain
          key={chainKey}
          scope={effective}
          client={effective === "plane" || !env ? plane : inEnvironment(env.id)}
          tenantId={effective === "tenant" ? tenantId : undefined}
        />
      )}
    </>
  );
}

/** TenantPicker chooses the tenant whose chain is shown (the environment's first 100 tenants, or an id). */
function TenantPicker({
  client,
  value,
  onChange,
}: {
  client: Baseplate;
  value: string;
  onChange: (id: string) => void;
}) {
  const [state] = useLoad(
    (signal) => unwrap(client.GET("/v1/tenants", { params: { query: { limit: 100 } }, signal })),
    [client],
  );
  const [typed, setTyped] = useState(value);
  return (
    <form
      class="filters"
      onSubmit={(e) => {
        e.preventDefault();
        onChange(typed.trim());
      }}
    >
      <div class="filter">
        <label for="audit-tenant">Tenant</label>
        <input
          id="audit-tenant"
          list="audit-tenants"
          placeholder="ten_…"
          value={typed}
          onInput={(e) => setTyped(e.currentTarget.value)}
        />
        <datalist id="audit-tenants">
          {state.status === "ok" &&
            state.data.data.map((t) => (
              <option key={t.id} value={t.id}>
                {t.name}
              </option>
            ))}
        </datalist>
      </div>
      <button type="submit" class="button">
        Show tenant chain
      </button>
    </form>
  );
}

function Chain({ scope, client, tenantId }: { scope: Scope; client: Baseplate; tenantId: string | undefined }) {
  const [draft, setDraft] = useState<Filters>(NO_FILTERS);
  const [filters, setFilters] = useState<Filters>(NO_FILTERS);
  const pages = usePages();
  const [open, setOpen] = useState<string | null>(null);
  const [entries, reload] = useLoad(
    (signal) => {
      const q = { ...query(filters), limit: 25, ...(pages.cursor ? { cursor: pages.cursor } : {}) };
      return scope === "plane"
        ? unwrap(plane.GET("/v1/operator/audit/entries", { params: { query: q }, signal }))
        : unwrap(
            client.GET("/v1/audit/entries", {
              params: { query: { ...q, ...(tenantId ? { tenantId } : {}) } },
              signal,
            }),
          );
    },
    [filters, pages.cursor],
  );
  const apply = (f: Filters) => {
    setFilters(f);
    pages.reset();
    setOpen(null);
  };
  const set = (k: keyof Filters) => (e: Event) =>
    setDraft({ ...draft, [k]: (e.currentTarget as HTMLInputElement | HTMLSelectElement).value });

  return (
    <div class="audit-layout">
      <div>
        <form
          class="filters"
          aria-label="Audit filters"
          onSubmit={(e) => {
            e.preventDefault();
            apply(draft);
          }}
        >
          <div class="filter">
            <label for="f-action">Action</label>
            <input
              id="f-action"
              placeholder="tenant.* or tenant.created"
              value={draft.action}
              onInput={set("action")}
            />
          </div>
          <div class="filter">
            <label for="f-actor">Actor id</label>
            <input id="f-actor" placeholder="opr_… or key_…" value={draft.actorId} onInput={set("actorId")} />
          </div>
          <div class="filter">
            <label for="f-actor-type">Actor type</label>
            <select id="f-actor-type" value={draft.actorType} onChange={set("actorType")}>
              <option value="">any</option>
              <option value="operator">operator</option>
              <option value="service">service (secret key)</option>
              <option value="user">user</option>
              <option value="tenant_key">tenant key</option>
              <option value="agent">agent</option>
              <option value="system">system</option>
            </select>
          </div>
          <div class="filter">
            <label for="f-target-type">Target type</label>
            <input id="f-target-type" placeholder="tenant" value={draft.targetType} onInput={set("targetType")} />
          </div>
          <div class="filter">
            <label for="f-target">Target id</label>
            <input id="f-target" placeholder="ten_…" value={draft.targetId} onInput={set("targetId")} />
          </div>
          <div class="filter">
            <label for="f-from">From</label>
            <input id="f-from" type="datetime-local" value={draft.from} onInput={set("from")} />
          </div>
          <div class="filter">
            <label for="f-to">Until</label>
            <input id="f-to" type="datetime-local" value={draft.to} onInput={set("to")} />
          </div>
          <div class="filter">
            <label for="f-order">Order</label>
            <select id="f-order" value={draft.order} onChange={set("order")}>
              <option value="newest">newest first</option>
              <option value="oldest">oldest first</option>
            </select>
          </div>
          <div class="filter-actions">
            <button type="submit" class="button button-primary">
              Apply filters
            </button>
            <button
              type="button"
              class="button"
              onClick={() => {
                setDraft(NO_FILTERS);
                apply(NO_FILTERS);
              }}
            >
              Clear
            </button>
          </div>
        </form>
        <Show state={entries} what="audit entries" retry={reload}>
          {(page) =>
            page.data.length === 0 ? (
              <Empty>
                {filters === NO_FILTERS ? "This chain has no entries yet." : "No entry matches these filters."}
              </Empty>
            ) : (
              <>
                <table class="table timeline">
                  <caption class="visually-hidden">Audit entries</caption>
                  <thead>
                    <tr>
                      <th scope="col">When</th>
                      <th scope="col">Action</th>
                      <th scope="col">Actor</th>
                      <th scope="col">Targets</th>
                      <th scope="col">#</th>
                      <th scope="col">
                        <span class="visually-hidden">Details</span>
                      </th>
                    </tr>
                  </thead>
                  <tbody>
                    {page.data.map((e) => (
                      <EntryRow
                        key={e.id}
                        entry={e}
                        open={open === e.id}
                        onToggle={() => setOpen(open === e.id ? null : e.id)}
                      />
                    ))}
                  </tbody>
                </table>
                <Pager
                  label="Audit entries"
                  page={pages.page}
                  nextCursor={page.nextCursor}
                  onNext={pages.next}
                  onPrevious={pages.previous}
                />
              </>
            )
          }
        </Show>
      </div>
      <Integrity scope={scope} client={client} tenantId={tenantId} />
    </div>
  );
}

function actorLabel(a: AuditEntry["actor"]): string {
  return a.displayName ?? a.id ?? a.type;
}

function EntryRow({ entry: e, open, onToggle }: { entry: AuditEntry; open: boolean; onToggle: () => void }) {
  return (
    <>
      <tr>
        <td>
          <Time iso={e.occurredAt} />
        </td>
        <td>
          <code>{e.action}</code>
        </td>
        <td>
          {actorLabel(e.actor)} <span class="muted">({e.actor.type})</span>
          {e.actor.onBehalfOf && (
            <span class="muted small">
              {" "}
              for {e.actor.onBehalfOf.type} {e.actor.onBehalfOf.id}
            </span>
          )}
        </td>
        <td>
          {e.targets.map((t) => (
            <code key={`${t.type}:${t.id}`} class="chip" title={t.id}>
              {t.type} {t.id.length > 16 ? `${t.id.slice(0, 16)}…` : t.id}
            </code>
          ))}
        </td>
        <td>
          <span class="muted">{e.seq}</span>
        </td>
        <td class="cell-actions">
          <button
            type="button"
            class="button button-small"
            aria-expanded={open}
            aria-controls={`entry-${e.id}`}
            aria-label={`${open ? "Hide" : "Show"} details of ${e.action} #${e.seq}`}
            onClick={onToggle}
          >
            {open ? "Hide" : "Details"}
          </button>
        </td>
      </tr>
      {open && (
        <tr id={`entry-${e.id}`} class="row-detail">
          <td colSpan={6}>
            <Fields
              rows={[
                ["Entry", <code key="id">{e.id}</code>],
                ["Chain", <code key="c">{e.chain}</code>],
                ["Request", e.context.requestId ? <code key="r">{e.context.requestId}</code> : "—"],
                ["IP", e.context.ip ?? "—"],
                ["Source", e.source],
                ["Hash", <Short key="h" value={e.hash} size={16} />],
              ]}
            />
            <Json label={`Entry ${e.id}`} value={{ metadata: e.metadata, changes: e.changes, actor: e.actor }} />
          </td>
        </tr>
      )}
    </>
  );
}

/** fingerprint is SHA-256 over the key's DER (SPKI), hex: `openssl pkey -pubin -outform DER | sha256sum`. */
async function fingerprint(pem: string): Promise<string | null> {
  if (!globalThis.crypto?.subtle) return null;
  const b64 = pem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, "");
  const der = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", der));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

function Integrity({ scope, client, tenantId }: { scope: Scope; client: Baseplate; tenantId: string | undefined }) {
  const [state, reload] = useLoad(async (signal) => {
    const tenantQuery = tenantId ? { tenantId } : {};
    const [verification, checkpoints, keys] = await Promise.all([
      scope === "plane"
        ? unwrap(plane.GET("/v1/operator/audit/verify", { signal }))
        : unwrap(client.GET("/v1/audit/verify", { params: { query: tenantQuery }, signal })),
      scope === "plane"
        ? unwrap(plane.GET("/v1/operator/audit/checkpoints", { params: { query: { limit: 1 } }, signal }))
        : unwrap(client.GET("/v1/audit/checkpoints", { params: { query: { limit: 1, ...tenantQuery } }, signal })),
      unwrap(plane.GET("/v1/audit/public-keys", { signal })),
    ]);
    const latest: Checkpoint | null = checkpoints.data[0] ?? null;
    const key = latest ? keys.keys.find((k) => k.keyId === latest.keyId) : keys.keys.find((k) => k.status === "active");
    return {
      verification,
      latest,
      key: key ? { keyId: key.keyId, status: key.status, fingerprint: await fingerprint(key.publicKey) } : null,
    };
  }, []);
  const chainName = scope === "plane" ? "plane" : (tenantId ?? environmentId.value ?? "chain");
  return (
    <aside class="integrity" aria-label="Chain integrity">
      <section class="card">
        <h2>Integrity</h2>
        <Show state={state} what="the verification" retry={reload}>
          {({ verification, latest, key }) => (
            <>
              <VerificationStatus v={verification} />
              <h3>Latest signed checkpoint</h3>
              {latest ? (
                <Fields
                  rows={[
                    ["Signed", <Time key="t" iso={latest.time} />],
                    ["Covers entries", `1–${latest.size}`],
                    ["Head hash", <Short key="h" value={latest.headHash} size={16} />],
                    ["Key", <code key="k">{latest.keyId}</code>],
                  ]}
                />
              ) : (
                <Empty>No checkpoint yet: the hourly signing job makes the first one.</Empty>
              )}
              <h3>Signing key</h3>
              {key ? (
                <p class="fingerprint">
                  <code>{key.keyId}</code>{" "}
                  <Badge tone={key.status === "active" ? "good" : "neutral"}>{key.status}</Badge>
                  <br />
                  <span class="muted small">SHA-256 fingerprint</span>
                  <br />
                  <code class="wrap" data-testid="key-fingerprint">
                    {key.fingerprint ?? "unavailable (needs a secure context)"}
                  </code>
                </p>
              ) : (
                <Empty>No signing key is published yet.</Empty>
              )}
              <button type="button" class="button button-small" onClick={reload}>
                Verify again
              </button>
            </>
          )}
        </Show>
      </section>
      <section class="card">
        <h2>Export</h2>
        <p class="muted small">
          The whole chain as JSON Lines, with its checkpoints. Check it offline with{" "}
          <code>baseplate audit verify FILE</code>.
        </p>
        <StreamedExport
          label="Export JSON Lines"
          fallbackName={`audit-${chainName}.jsonl`}
          open={(signal) =>
            scope === "plane"
              ? plane.GET("/v1/operator/audit/export", {
                  params: { query: { format: "jsonl" } },
                  parseAs: "stream",
                  signal,
                })
              : client.GET("/v1/audit/export", {
                  params: { query: { format: "jsonl", ...(tenantId ? { tenantId } : {}) } },
                  parseAs: "stream",
                  signal,
                })
          }
        />
      </section>
    </aside>
  );
}

function VerificationStatus({ v }: { v: Verification }) {
  return (
    <div class={`verification ${v.ok ? "verification-ok" : "verification-bad"}`} role="status">
      <p>
        {v.ok ? <Badge tone="good">Chain verified</Badge> : <Badge tone="bad">Verification failed</Badge>}{" "}
        <span class="muted small">
          {v.entries} entries
          {v.lastSeq !== null ? ` (#${v.firstSeq}–#${v.lastSeq})` : ""}, {v.checkpoints} checkpoint
          {v.checkpoints === 1 ? "" : "s"}
        </span>
      </p>
      {v.ok && v.uncheckpointed > 0 && (
        <p class="muted small">
          {v.uncheckpointed} newer entr{v.uncheckpointed === 1 ? "y is" : "ies are"} chained but not yet signed.
        </p>
      )}
      {!v.ok && (
        <ul class="verification-errors">
          {v.errors.slice(0, 20).map((e, i) => (
            <li key={i}>
              <code>{e.kind}</code>
              {e.seq !== undefined ? ` (entry ${e.seq})` : ""}: {e.message}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
