import { type Baseplate, type BaseplateEvent, type BaseplateProblem, unwrap } from "@baseplate/sdk";
import { useEffect, useRef, useState } from "preact/hooks";
import { asProblem, inEnvironment } from "../api.js";
import { InEnvironment, Json, Pager, usePages } from "../lists.js";
import { Badge, Empty, Fields, PageHeader, ProblemNotice, Show, Time, useLoad } from "../ui.js";

/**
 * Events shows the selected environment's event log (`GET /v1/events`, oldest first, paged), filtered
 * by type, with a detail panel holding an event's payload, and a live tail: the SDK's `events()`
 * iterator over `GET /v1/events/stream` with the environment-bound client (so the stream carries
 * `Baseplate-Environment`), showing new events as they are committed until the operator stops it.
 */
export function Events() {
  return (
    <>
      <PageHeader title="Events" subtitle="The environment's event log: what webhooks deliver and streams follow." />
      <InEnvironment>{(id) => <EventLog key={id} client={inEnvironment(id)} />}</InEnvironment>
    </>
  );
}

const LIVE_CAP = 200;

function EventLog({ client }: { client: Baseplate }) {
  const [draft, setDraft] = useState("");
  const [types, setTypes] = useState("");
  const pages = usePages();
  const [selected, setSelected] = useState<BaseplateEvent | null>(null);
  const [state, reload] = useLoad(
    (signal) =>
      unwrap(
        client.GET("/v1/events", {
          params: {
            query: { limit: 25, ...(types ? { types } : {}), ...(pages.cursor ? { cursor: pages.cursor } : {}) },
          },
          signal,
        }),
      ),
    [types, pages.cursor],
  );

  // The live tail: one stream at a time, stopped by the button or by leaving the view.
  const [live, setLive] = useState<BaseplateEvent[]>([]);
  const [tailing, setTailing] = useState(false);
  const [tailProblem, setTailProblem] = useState<BaseplateProblem | null>(null);
  const tail = useRef<AbortController | null>(null);
  useEffect(() => () => tail.current?.abort(), []);
  const stop = () => {
    tail.current?.abort();
    tail.current = null;
    setTailing(false);
  };
  const start = async (filter: string) => {
    stop();
    const controller = new AbortController();
    tail.current = controller;
    setTailProblem(null);
    setLive([]);
    setTailing(true);
    try {
      for await (const { event } of client.events({
        ...(filter ? { types: filter } : {}),
        signal: controller.signal,
      })) {
        setLive((l) => [event, ...l].slice(0, LIVE_CAP));
      }
    } catch (err) {
      if (!controller.signal.aborted) setTailProblem(asProblem(err));
    } finally {
      if (tail.current === controller) {
        tail.current = null;
        setTailing(false);
      }
    }
  };

  return (
    <div class="split">
      <div>
        <form
          class="filters"
          aria-label="Event filters"
          onSubmit={(e) => {
            e.preventDefault();
            setTypes(draft.trim());
            pages.reset();
            if (tailing) void start(draft.trim());
          }}
        >
          <div class="filter filter-wide">
            <label for="event-types">Types</label>
            <input
              id="event-types"
              placeholder="tenant.*, invoice.paid"
              value={draft}
              aria-describedby="event-types-hint"
              onInput={(e) => setDraft(e.currentTarget.value)}
            />
            <span id="event-types-hint" class="muted small">
              Comma-separated types or wildcards.
            </span>
          </div>
          <div class="filter-actions">
            <button type="submit" class="button button-primary">
              Apply
            </button>
            {tailing ? (
              <button type="button" class="button button-danger" onClick={stop}>
                Stop live tail
              </button>
            ) : (
              <button type="button" class="button" onClick={() => void start(types)}>
                Start live tail
              </button>
            )}
          </div>
        </form>
        {tailProblem && <ProblemNotice problem={tailProblem} />}
        {(tailing || live.length > 0) && (
          <section class="card live" aria-labelledby="live-title">
            <h2 id="live-title">
              Live tail{" "}
              {tailing ? (
                <span class="live-indicator" role="status">
                  <span class="live-dot" aria-hidden="true" /> Live{types ? `: ${types}` : ""}
                </span>
              ) : (
                <Badge>stopped</Badge>
              )}
            </h2>
            {live.length === 0 ? (
              <p class="muted">Waiting for new events…</p>
            ) : (
              <EventTable caption="Live events" events={live} selected={selected} onSelect={setSelected} />
            )}
          </section>
        )}
        <h2>Log</h2>
        <Show state={state} what="events" retry={reload}>
          {(page) =>
            page.data.length === 0 ? (
              <Empty>{types ? "No event of these types." : "No events in this environment yet."}</Empty>
            ) : (
              <>
                <EventTable caption="Events" events={page.data} selected={selected} onSelect={setSelected} />
                <Pager
                  label="Events"
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
      <aside class="card detail-panel" aria-label="Event detail">
        {selected ? (
          <>
            <h2>
              <code>{selected.type}</code>
            </h2>
            <Fields
              rows={[
                ["Id", <code key="id">{selected.id}</code>],
                ["Sequence", String(selected.sequence)],
                ["Time", <Time key="t" iso={selected.time} />],
                ["Source", selected.source],
                ["Subject", selected.subject ?? "—"],
                ["Tenant", selected.tenantId ? <code key="ten">{selected.tenantId}</code> : "environment-wide"],
                ["Publisher id", selected.clientId ?? "—"],
              ]}
            />
            <h3>Payload</h3>
            <Json label={`Payload of ${selected.id}`} value={selected.data} />
            <button type="button" class="button button-small" onClick={() => setSelected(null)}>
              Close
            </button>
          </>
        ) : (
          <p class="muted">Choose an event to see its payload.</p>
        )}
      </aside>
    </div>
  );
}

function EventTable({
  caption,
  events,
  selected,
  onSelect,
}: {
  caption: string;
  events: BaseplateEvent[];
  selected: BaseplateEvent | null;
  onSelect: (e: BaseplateEvent) => void;
}) {
  return (
    <table class="table">
      <caption class="visually-hidden">{caption}</caption>
      <thead>
        <tr>
          <th scope="col">#</th>
          <th scope="col">Time</th>
          <th scope="col">Type</th>
          <th scope="col">Subject</th>
          <th scope="col">
            <span class="visually-hidden">Actions</span>
          </th>
        </tr>
      </thead>
      <tbody>
        {events.map((e) => (
          <tr key={e.id} class={selected?.id === e.id ? "row-selected" : ""}>
            <td>
              <span class="muted">{e.sequence}</span>
            </td>
            <td>
              <Time iso={e.time} />
            </td>
            <td>
              <code>{e.type}</code>
            </td>
            <td>{e.subject ? <code class="id">{e.subject}</code> : <span class="muted">—</span>}</td>
            <td class="cell-actions">
              <button
                type="button"
                class="button button-small"
                aria-label={`View ${e.type} #${e.sequence}`}
                aria-pressed={selected?.id === e.id}
                onClick={() => onSelect(e)}
              >
                View
              </button>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
