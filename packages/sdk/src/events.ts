import type { paths } from "./generated/openapi.js";
import { BaseplateProblem } from "./problem.js";
import { type SseMessage, SseParser } from "./sse.js";
import { sleep } from "./transport.js";

/** BaseplateEvent is one event of the log (CloudEvents-shaped), as the API document describes it. */
export type BaseplateEvent = paths["/v1/events/{eventId}"]["get"]["responses"][200]["content"]["application/json"];

/** StreamedEvent is one event received from the stream: its sequence (the SSE `id`), type and body. */
export interface StreamedEvent {
  /** sequence: the event's position in the environment's log; resume after it with `lastEventId`. */
  sequence: number;
  type: string;
  event: BaseplateEvent;
}

/** EventStreamOptions select the events of a stream and where it starts. */
export interface EventStreamOptions {
  /** types: comma-separated types or wildcards (`invoice.*,tenant.created`). */
  types?: string;
  /** tenantId: only this tenant's events (tenant credentials always see only their own). */
  tenantId?: string;
  /**
   * lastEventId: resume after this sequence (a cursor you stored). Without it the stream starts at
   * the current end of the log. Pass 0 to read the whole retained log first.
   */
  lastEventId?: number;
  /** signal: aborting it ends the iteration (no error is thrown). */
  signal?: AbortSignal;
  /** reconnectDelayMs: the first wait before reconnecting (default 500, doubling to 15 s; the server's `retry:` wins). */
  reconnectDelayMs?: number;
}

interface StreamTransport {
  baseUrl: string;
  fetch: (input: Request) => Promise<Response>;
}

/**
 * streamEvents follows `GET /v1/events/stream` as an async iterator. When the connection drops
 * (network error, server restart, proxy timeout) it reconnects with `Last-Event-ID` set to the last
 * sequence it yielded, so no event is lost and none is yielded twice (events at or before that
 * sequence are skipped). A refusal (401, 403, 400…) ends the iteration with its BaseplateProblem;
 * aborting `signal` ends it quietly. Without `lastEventId` the stream starts at the position the
 * server names when the first connection opens (its `id`), so a drop even before the first event
 * loses nothing; store the sequences you handle and pass the last one to resume across processes.
 */
export async function* streamEvents(
  transport: StreamTransport,
  options: EventStreamOptions = {},
): AsyncGenerator<StreamedEvent, void, undefined> {
  const signal = options.signal ?? new AbortController().signal;
  let last = options.lastEventId ?? null;
  const initialDelay = options.reconnectDelayMs ?? 500;
  let delay = initialDelay;
  let serverRetry: number | null = null;
  while (!signal.aborted) {
    const url = new URL(`${transport.baseUrl}/v1/events/stream`);
    if (options.types) url.searchParams.set("types", options.types);
    if (options.tenantId) url.searchParams.set("tenantId", options.tenantId);
    const headers = new Headers({ accept: "text/event-stream" });
    if (last !== null) headers.set("last-event-id", String(last));
    let response: Response;
    try {
      response = await transport.fetch(new Request(url, { headers, signal }));
    } catch {
      if (signal.aborted) return;
      if (!(await wait(serverRetry ?? delay, signal))) return;
      delay = Math.min(delay * 2, 15_000);
      continue;
    }
    if (!response.ok || !response.body) {
      const text = await response.text().catch(() => "");
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // not JSON: the problem is built from the status
      }
      const problem = BaseplateProblem.fromResponse(response, body);
      if (response.status >= 500 || response.status === 429) {
        if (!(await wait(serverRetry ?? delay, signal))) return;
        delay = Math.min(delay * 2, 15_000);
        continue;
      }
      throw problem;
    }
    const queue: SseMessage[] = [];
    const parser = new SseParser(
      (message) => queue.push(message),
      (ms) => {
        serverRetry = ms;
      },
      // The server names its position when a stream opens: a drop before the first event then
      // resumes from there, not from the end of the log at the next connection.
      (id) => {
        if (/^\d+$/.test(id) && (last === null || Number(id) > last)) last = Number(id);
      },
    );
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    try {
      for (;;) {
        const chunk = await reader.read();
        if (chunk.done) break;
        parser.feed(chunk.value);
        while (queue.length > 0) {
          const message = queue.shift() as SseMessage;
          if (!message.id || !/^\d+$/.test(message.id)) continue;
          const sequence = Number(message.id);
          if (last !== null && sequence <= last) continue;
          const event = JSON.parse(message.data) as BaseplateEvent;
          last = sequence;
          delay = initialDelay;
          yield { sequence, type: message.event ?? event.type, event };
        }
      }
    } catch {
      // the connection dropped: reconnect below
    } finally {
      await reader.cancel().catch(() => undefined);
    }
    if (signal.aborted) return;
    if (!(await wait(serverRetry ?? delay, signal))) return;
    delay = Math.min(delay * 2, 15_000);
  }
}

/** wait sleeps, answering false when the signal aborted meanwhile. */
async function wait(ms: number, signal: AbortSignal): Promise<boolean> {
  try {
    await sleep(ms, signal);
    return true;
  } catch {
    return false;
  }
}
