/** SseMessage is one dispatched server-sent event. */
export interface SseMessage {
  /** id: the event's `id` field (the last one seen when this message had none), or undefined. */
  id: string | undefined;
  /** event: the `event` field, or undefined for the default `message`. */
  event: string | undefined;
  data: string;
}

/**
 * SseParser reads a `text/event-stream` as the WHATWG HTML spec's "interpret an event stream"
 * describes: lines end with CRLF, LF or CR; `:` lines are comments; `data` lines are joined with
 * LF; a blank line dispatches; `retry` sets the reconnection time; an `id` containing NUL is
 * ignored. Feed it decoded text in chunks of any size.
 */
export class SseParser {
  #buffer = "";
  #data: string[] = [];
  #event: string | undefined;
  #id: string | undefined;
  #sawData = false;
  #sawId = false;

  constructor(
    private readonly onMessage: (message: SseMessage) => void,
    private readonly onRetry: (ms: number) => void = () => undefined,
    /**
     * onCursor hears an `id` sent without data: the stream's position, not an event (the
     * EventSource "last event ID" is set, nothing is dispatched).
     */
    private readonly onCursor: (id: string) => void = () => undefined,
  ) {}

  /** feed parses a chunk; a line split across chunks waits for its end. */
  feed(chunk: string): void {
    this.#buffer += chunk;
    for (;;) {
      const match = /\r\n|\r|\n/.exec(this.#buffer);
      if (!match) return;
      // NOTE: a CR at the very end may be the first half of a CRLF split across chunks.
      if (match[0] === "\r" && match.index === this.#buffer.length - 1) return;
      const line = this.#buffer.slice(0, match.index);
      this.#buffer = this.#buffer.slice(match.index + match[0].length);
      this.#line(line);
    }
  }

  #line(line: string): void {
    if (line === "") {
      if (this.#sawData) this.onMessage({ id: this.#id, event: this.#event, data: this.#data.join("\n") });
      else if (this.#sawId && this.#id !== undefined) this.onCursor(this.#id);
      this.#data = [];
      this.#event = undefined;
      this.#sawData = false;
      this.#sawId = false;
      return;
    }
    if (line.startsWith(":")) return;
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") {
      this.#data.push(value);
      this.#sawData = true;
    } else if (field === "event") this.#event = value;
    else if (field === "id" && !value.includes("\0")) {
      this.#id = value;
      this.#sawId = true;
    } else if (field === "retry" && /^\d+$/.test(value)) this.onRetry(Number(value));
  }
}
