import { BaseplateProblem } from "@baseplate/sdk";
import { useEffect, useRef, useState } from "preact/hooks";
import { asProblem } from "./api.js";
import { ProblemNotice } from "./ui.js";

/**
 * StreamedExport downloads a streamed export (an audit chain as JSON Lines) with visible progress:
 * the body is read chunk by chunk through fetch's ReadableStream, the bytes received are counted as
 * they arrive, and the finished file is offered as a `blob:` URL on an `<a download>` link. Saving
 * it is a navigation (not a fetch), so the console's CSP (`connect-src 'self'`, no inline script)
 * allows it; the URL is revoked when a new export starts or the view goes away.
 */

/** Opened is what a `parseAs: "stream"` call answers (openapi-fetch). */
interface Opened {
  data?: ReadableStream<Uint8Array> | null | undefined;
  error?: unknown;
  response: Response;
}

type State =
  | { status: "idle" }
  | { status: "running"; bytes: number; lines: number }
  | { status: "done"; bytes: number; lines: number; url: string; filename: string }
  | { status: "cancelled"; bytes: number }
  | { status: "error"; problem: BaseplateProblem };

/** filenameOf reads the name the plane gave the file (Content-Disposition), else `fallback`. */
function filenameOf(response: Response, fallback: string): string {
  const header = response.headers.get("content-disposition") ?? "";
  const m = /filename="([^"]+)"/.exec(header);
  return m?.[1] && /^[\w.-]+$/.test(m[1]) ? m[1] : fallback;
}

/** formatBytes: 1234 → "1.2 KB". */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

export function StreamedExport({
  label,
  fallbackName,
  open,
}: {
  /** label: the button's text (`Export JSON Lines`). */
  label: string;
  fallbackName: string;
  /** open starts the export call (`client.GET(path, { parseAs: "stream", signal })`). */
  open: (signal: AbortSignal) => Promise<Opened>;
}) {
  const [state, setState] = useState<State>({ status: "idle" });
  const abort = useRef<AbortController | null>(null);
  const url = useRef<string | null>(null);
  const release = () => {
    if (url.current) URL.revokeObjectURL(url.current);
    url.current = null;
  };
  useEffect(
    () => () => {
      abort.current?.abort();
      release();
    },
    [],
  );

  const start = async () => {
    release();
    const controller = new AbortController();
    abort.current = controller;
    setState({ status: "running", bytes: 0, lines: 0 });
    let bytes = 0;
    let lines = 0;
    try {
      const opened = await open(controller.signal);
      if (!opened.response.ok || !opened.data) {
        throw BaseplateProblem.fromResponse(opened.response, opened.error);
      }
      const reader = opened.data.getReader();
      const chunks: Uint8Array[] = [];
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        chunks.push(value);
        bytes += value.byteLength;
        for (const b of value) if (b === 10) lines++;
        setState({ status: "running", bytes, lines });
      }
      const blob = new Blob(chunks as BlobPart[], { type: "application/x-ndjson" });
      url.current = URL.createObjectURL(blob);
      setState({
        status: "done",
        bytes,
        lines,
        url: url.current,
        filename: filenameOf(opened.response, fallbackName),
      });
    } catch (err) {
      if (controller.signal.aborted) setState({ status: "cancelled", bytes });
      else setState({ status: "error", problem: asProblem(err) });
    } finally {
      if (abort.current === controller) abort.current = null;
    }
  };

  return (
    <div class="export">
      {state.status === "running" ? (
        <div class="export-progress" role="status" aria-live="polite">
          <progress aria-label="Export progress" />
          <span>
            Receiving… {formatBytes(state.bytes)} ({state.lines} lines)
          </span>
          <button type="button" class="button button-small" onClick={() => abort.current?.abort()}>
            Cancel export
          </button>
        </div>
      ) : (
        <button type="button" class="button" onClick={start}>
          {label}
        </button>
      )}
      {state.status === "done" && (
        <p class="export-done" role="status">
          Received {formatBytes(state.bytes)} ({state.lines} lines).{" "}
          <a class="button button-primary button-small" href={state.url} download={state.filename}>
            Save {state.filename}
          </a>
        </p>
      )}
      {state.status === "cancelled" && (
        <p class="muted" role="status">
          Export cancelled after {formatBytes(state.bytes)}.
        </p>
      )}
      {state.status === "error" && <ProblemNotice problem={state.problem} />}
    </div>
  );
}
