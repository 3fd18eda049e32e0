import { type components, unwrap } from "@baseplate/sdk";
import { useState } from "preact/hooks";
import { asProblem } from "../api.js";
import { Empty, PageHeader, ProblemNotice, Show, Time, useAction, useLoad } from "../ui.js";
import { portal, portalSession } from "./api.js";

type AuditEntry = components["schemas"]["AuditEntry"];

interface Filters {
  action: string;
  from: string;
  to: string;
}

function actorLabel(a: AuditEntry["actor"]): string {
  return a.displayName ?? `${a.type} ${a.id}`;
}

/** localToIso turns a `datetime-local` value into an ISO instant ("" stays ""). */
function localToIso(local: string): string {
  if (!local) return "";
  const d = new Date(local);
  return Number.isNaN(d.getTime()) ? "" : d.toISOString();
}

/**
 * AuditSection: the tenant's own audit log, filtered by action and time, exported as JSON Lines or
 * CSV, with how to verify it offline.
 */
export function AuditSection({ tenantId }: { tenantId: string }) {
  const [draft, setDraft] = useState<Filters>({ action: "", from: "", to: "" });
  const [filters, setFilters] = useState<Filters>(draft);
  const [state, reload] = useLoad(
    (signal) => {
      const query: Record<string, string | number> = { limit: 50 };
      if (filters.action) query.action = filters.action;
      if (filters.from) query.from = localToIso(filters.from);
      if (filters.to) query.to = localToIso(filters.to);
      return unwrap(
        portal.GET("/v1/tenants/{tenantId}/audit/entries", {
          params: { path: { tenantId }, query: query as { limit: number } },
          signal,
        }),
      );
    },
    [tenantId, filters],
  );
  return (
    <>
      <PageHeader
        title="Audit log"
        subtitle="Who did what in your organisation, and when: append-only and hash-chained."
      />
      <form
        class="filters"
        aria-label="Filter the audit log"
        onSubmit={(e) => {
          e.preventDefault();
          setFilters(draft);
        }}
      >
        <label class="filter">
          Action
          <input
            value={draft.action}
            placeholder="webhook_endpoint.created"
            onInput={(e) => setDraft({ ...draft, action: e.currentTarget.value })}
          />
        </label>
        <label class="filter">
          From
          <input
            type="datetime-local"
            value={draft.from}
            onInput={(e) => setDraft({ ...draft, from: e.currentTarget.value })}
          />
        </label>
        <label class="filter">
          To
          <input
            type="datetime-local"
            value={draft.to}
            onInput={(e) => setDraft({ ...draft, to: e.currentTarget.value })}
          />
        </label>
        <div class="filter-actions">
          <button type="submit" class="button button-primary">
            Apply
          </button>
        </div>
      </form>
      <Show state={state} what="audit entries" retry={reload}>
        {(page) =>
          page.data.length === 0 ? (
            <Empty>No entries match.</Empty>
          ) : (
            <table class="table">
              <caption class="visually-hidden">Audit entries</caption>
              <thead>
                <tr>
                  <th scope="col">When</th>
                  <th scope="col">Action</th>
                  <th scope="col">Actor</th>
                  <th scope="col">Targets</th>
                </tr>
              </thead>
              <tbody>
                {page.data.map((e) => (
                  <tr key={e.id}>
                    <td>
                      <Time iso={e.occurredAt} />
                    </td>
                    <td>
                      <code>{e.action}</code>
                    </td>
                    <td>{actorLabel(e.actor)}</td>
                    <td>
                      {e.targets.map((t) => (
                        <div key={`${t.type}:${t.id}`} class="small">
                          {t.type} <code>{t.id}</code>
                        </div>
                      ))}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )
        }
      </Show>
      <Export tenantId={tenantId} />
      <section class="card" aria-labelledby="verify-title">
        <h2 id="verify-title">Verify the export</h2>
        <p>
          Every entry carries the hash of the one before it (<code>prevHash</code>, <code>hash</code>), and the plane
          signs checkpoints of the chain, so a removed or altered entry is found. To check an export offline:
        </p>
        <ol>
          <li>Download the export as JSON Lines (above).</li>
          <li>
            Save the plane's public signing keys:{" "}
            <a href="/v1/audit/public-keys" download="audit-public-keys.json">
              audit-public-keys.json
            </a>
            .
          </li>
          <li>
            Run the plane's command-line tool:
            <pre class="pem">baseplate audit verify audit-{tenantId}.jsonl --public-key audit-public-keys.json</pre>
          </li>
        </ol>
        <p class="muted small">
          It recomputes every hash, checks the signatures, and names the first entry that does not match.
        </p>
      </section>
    </>
  );
}

function Export({ tenantId }: { tenantId: string }) {
  const action = useAction();
  const download = (format: "jsonl" | "csv") =>
    action.run(async () => {
      const res = await fetch(`/v1/tenants/${encodeURIComponent(tenantId)}/audit/export?format=${format}`, {
        headers: { authorization: `Bearer ${portalSession.value?.token ?? ""}` },
      });
      if (!res.ok) {
        const body = (await res.json().catch(() => null)) as { detail?: string } | null;
        throw asProblem(new Error(body?.detail ?? `HTTP ${res.status}`));
      }
      const url = URL.createObjectURL(await res.blob());
      const a = document.createElement("a");
      a.href = url;
      a.download = `audit-${tenantId}.${format}`;
      a.click();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    });
  return (
    <section class="card" aria-labelledby="export-title">
      <h2 id="export-title">Export</h2>
      <p>Download the whole audit log of your organisation.</p>
      <div class="form-actions">
        <button type="button" class="button" disabled={action.busy} onClick={() => download("jsonl")}>
          Download JSON Lines
        </button>
        <button type="button" class="button" disabled={action.busy} onClick={() => download("csv")}>
          Download CSV
        </button>
      </div>
      {action.problem && <ProblemNotice problem={action.problem} />}
    </section>
  );
}
