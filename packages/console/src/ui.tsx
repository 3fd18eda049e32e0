import type { BaseplateProblem } from "@baseplate/sdk";
import type { ComponentChildren } from "preact";
import { useCallback, useEffect, useId, useRef, useState } from "preact/hooks";
import { asProblem } from "./api.js";

/** Loaded is the state of data a view fetches: loading, loaded, or failed with a problem. */
export type Loaded<T> =
  | { status: "loading" }
  | { status: "ok"; data: T }
  | { status: "error"; problem: BaseplateProblem };

/**
 * useLoad runs `load` when the view mounts and whenever `deps` change (aborting the previous run),
 * and returns its state plus `reload`. A failure becomes the call's problem document.
 */
export function useLoad<T>(load: (signal: AbortSignal) => Promise<T>, deps: unknown[]): [Loaded<T>, () => void] {
  const [state, setState] = useState<Loaded<T>>({ status: "loading" });
  const [generation, setGeneration] = useState(0);
  useEffect(() => {
    const abort = new AbortController();
    setState({ status: "loading" });
    load(abort.signal).then(
      (data) => !abort.signal.aborted && setState({ status: "ok", data }),
      (err) => !abort.signal.aborted && setState({ status: "error", problem: asProblem(err) }),
    );
    return () => abort.abort();
  }, [...deps, generation]);
  return [state, useCallback(() => setGeneration((g) => g + 1), [])];
}

/** Show renders a Loaded state: a loading line, the problem, or `children(data)`. */
export function Show<T>({
  state,
  what,
  retry,
  children,
}: {
  state: Loaded<T>;
  what: string;
  /** retry: offered with the problem, for failures worth trying again (not a 4xx). */
  retry?: () => void;
  children: (data: T) => ComponentChildren;
}) {
  if (state.status === "loading") return <Loading what={what} />;
  if (state.status === "error") {
    const transient = state.problem.status === 0 || state.problem.status >= 500 || state.problem.status === 429;
    return <ProblemNotice problem={state.problem} {...(retry && transient ? { onRetry: retry } : {})} />;
  }
  return <>{children(state.data)}</>;
}

export function Loading({ what }: { what: string }) {
  return (
    <p class="loading" role="status" aria-live="polite">
      <span class="spinner" aria-hidden="true" /> Loading {what}…
    </p>
  );
}

/** ProblemNotice shows a problem document: its title, detail, code and the request id to quote. */
export function ProblemNotice({ problem, onRetry }: { problem: BaseplateProblem; onRetry?: () => void }) {
  return (
    <div class="notice notice-error" role="alert">
      <p class="notice-title">{problem.title}</p>
      {problem.detail.replace(/\.$/, "") !== problem.title && <p>{problem.detail}</p>}
      {problem.errors && problem.errors.length > 0 && (
        <ul>
          {problem.errors.map((e) => (
            <li key={e.path}>
              <code>{e.path || "(body)"}</code>: {e.message}
            </li>
          ))}
        </ul>
      )}
      <p class="notice-meta">
        {problem.status > 0 && <span>HTTP {problem.status} · </span>}
        <code>{problem.code}</code>
        {problem.requestId && (
          <span>
            {" "}
            · request <code class="request-id">{problem.requestId}</code>
          </span>
        )}
      </p>
      {onRetry && (
        <button type="button" class="button" onClick={onRetry}>
          Try again
        </button>
      )}
    </div>
  );
}

export function Empty({ children }: { children: ComponentChildren }) {
  return <p class="empty">{children}</p>;
}

/** PageHeader is a view's title (focusable, so navigation can move focus to it) and its actions. */
export function PageHeader({
  title,
  subtitle,
  actions,
}: {
  title: ComponentChildren;
  subtitle?: ComponentChildren;
  actions?: ComponentChildren;
}) {
  return (
    <header class="page-header">
      <div>
        <h1 tabIndex={-1}>{title}</h1>
        {subtitle && <p class="subtitle">{subtitle}</p>}
      </div>
      {actions && <div class="actions">{actions}</div>}
    </header>
  );
}

export function Badge({
  tone = "neutral",
  children,
}: {
  tone?: "neutral" | "good" | "warn" | "bad";
  children: ComponentChildren;
}) {
  return <span class={`badge badge-${tone}`}>{children}</span>;
}

/** money formats an amount in minor units of `currency` (1999, "EUR" → "€19.99"). */
export function money(minor: number, currency: string | null | undefined): string {
  if (!currency) return String(minor);
  try {
    const digits = new Intl.NumberFormat(undefined, { style: "currency", currency }).resolvedOptions()
      .maximumFractionDigits;
    return new Intl.NumberFormat(undefined, { style: "currency", currency }).format(minor / 10 ** (digits ?? 2));
  } catch {
    return `${minor} ${currency}`;
  }
}

/** Time shows an ISO timestamp in the operator's locale, with the exact UTC time on hover. */
export function Time({ iso }: { iso: string | null | undefined }) {
  if (!iso) return <span class="muted">—</span>;
  const d = new Date(iso);
  return (
    <time dateTime={iso} title={d.toISOString()}>
      {d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" })}
    </time>
  );
}

/** Copyable shows a value in monospace with a button that copies it. */
export function Copyable({ value, label }: { value: string; label: string }) {
  const [copied, setCopied] = useState(false);
  return (
    <span class="copyable">
      <code>{value}</code>
      <button
        type="button"
        class="button button-small"
        aria-label={`Copy ${label}`}
        onClick={() =>
          navigator.clipboard?.writeText(value).then(
            () => setCopied(true),
            () => setCopied(false),
          )
        }
      >
        {copied ? "Copied" : "Copy"}
      </button>
    </span>
  );
}

/** Dl is a definition list of a resource's fields. */
export function Fields({ rows }: { rows: Array<[string, ComponentChildren]> }) {
  return (
    <dl class="fields">
      {rows.map(([k, v]) => (
        <div key={k}>
          <dt>{k}</dt>
          <dd>{v}</dd>
        </div>
      ))}
    </dl>
  );
}

/**
 * Dialog is a modal form (native <dialog>: focus is trapped, Escape closes it, focus returns to the
 * control that opened it).
 */
export function Dialog({
  title,
  open,
  onClose,
  children,
}: {
  title: string;
  open: boolean;
  onClose: () => void;
  children: ComponentChildren;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  // A view may hold several dialogs: each one is named by its own heading.
  const titleId = `dialog-${useId()}`;
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (open && !d.open) d.showModal();
    if (!open && d.open) d.close();
  }, [open]);
  return (
    <dialog ref={ref} class="dialog" aria-labelledby={titleId} onClose={onClose}>
      <h2 id={titleId}>{title}</h2>
      {open && children}
    </dialog>
  );
}

/**
 * useAction runs a write (a form submission, a button) with a busy flag and its problem, if any.
 * `run` resolves to true when the write succeeded.
 */
export function useAction(): {
  busy: boolean;
  problem: BaseplateProblem | null;
  run: (write: () => Promise<unknown>) => Promise<boolean>;
  reset: () => void;
} {
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<BaseplateProblem | null>(null);
  const run = useCallback(async (write: () => Promise<unknown>) => {
    setBusy(true);
    setProblem(null);
    try {
      await write();
      return true;
    } catch (err) {
      setProblem(asProblem(err));
      return false;
    } finally {
      setBusy(false);
    }
  }, []);
  return { busy, problem, run, reset: useCallback(() => setProblem(null), []) };
}
