import type { ComponentChildren } from "preact";
import { useCallback, useState } from "preact/hooks";
import { selectedEnvironment } from "./context.js";
import { Empty } from "./ui.js";

/**
 * Helpers the list views share: cursor paging (the plane's lists answer `{ data, hasMore,
 * nextCursor }`; a previous page is the cursor that led to it), a JSON block, the guard for views
 * that act in the selected environment, and ISO conversions for `datetime-local` inputs.
 */

/** usePages keeps the cursors that led to each page seen, so Previous goes back without refetching cursors. */
export function usePages(): {
  cursor: string | undefined;
  page: number;
  next: (cursor: string) => void;
  previous: () => void;
  reset: () => void;
} {
  const [stack, setStack] = useState<Array<string | undefined>>([undefined]);
  return {
    cursor: stack[stack.length - 1],
    page: stack.length,
    next: useCallback((c: string) => setStack((s) => [...s, c]), []),
    previous: useCallback(() => setStack((s) => (s.length > 1 ? s.slice(0, -1) : s)), []),
    reset: useCallback(() => setStack([undefined]), []),
  };
}

/** Pager is the Previous / Next pair under a paged table. */
export function Pager({
  label,
  page,
  nextCursor,
  onNext,
  onPrevious,
}: {
  label: string;
  page: number;
  nextCursor: string | null | undefined;
  onNext: (cursor: string) => void;
  onPrevious: () => void;
}) {
  if (page === 1 && !nextCursor) return null;
  return (
    <nav class="pager" aria-label={`${label} pages`}>
      <button type="button" class="button button-small" disabled={page === 1} onClick={onPrevious}>
        Previous page
      </button>
      <span class="muted">Page {page}</span>
      <button
        type="button"
        class="button button-small"
        disabled={!nextCursor}
        onClick={() => nextCursor && onNext(nextCursor)}
      >
        Next page
      </button>
    </nav>
  );
}

/** Json shows a value as indented JSON, scrollable, labelled for screen readers. */
export function Json({ value, label }: { value: unknown; label: string }) {
  return (
    // biome-ignore lint/a11y/noNoninteractiveTabindex: a scrollable region is focusable so the keyboard can scroll it.
    <section class="json-region" aria-label={label} tabIndex={0}>
      <pre class="pem json">{JSON.stringify(value, null, 2)}</pre>
    </section>
  );
}

/** InEnvironment renders its children only when an environment is selected in the header. */
export function InEnvironment({ children }: { children: (environmentId: string) => ComponentChildren }) {
  const env = selectedEnvironment.value;
  if (!env) return <Empty>Choose a project and an environment in the header to see this view.</Empty>;
  return <>{children(env.id)}</>;
}

/** toIso turns a `datetime-local` value (the operator's local time) into an ISO instant; "" stays "". */
export function toIso(local: string): string {
  if (!local) return "";
  const d = new Date(local);
  return Number.isNaN(d.getTime()) ? "" : d.toISOString();
}

/** toLocalInput turns an instant into a `datetime-local` value in the operator's time zone. */
export function toLocalInput(ms: number): string {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60_000);
  return d.toISOString().slice(0, 16);
}

/** short abbreviates a long hash or id for a table cell (the full value is in the title). */
export function Short({ value, size = 12 }: { value: string; size?: number }) {
  return (
    <code class="id" title={value}>
      {value.length > size + 1 ? `${value.slice(0, size)}…` : value}
    </code>
  );
}
