import type { Baseplate } from "@baseplate/sdk";
import { type ComponentChildren, createContext } from "preact";
import { useContext, useEffect, useState } from "preact/hooks";
import { inEnvironment } from "./api.js";
import { environmentId, selectedEnvironment } from "./context.js";
import { Link } from "./router.js";
import { session } from "./session.js";
import { Copyable, Dialog, Empty, type Loaded, ProblemNotice, useAction, useLoad } from "./ui.js";

/**
 * Helpers of the environment-scoped views (tenants, users, keys): the client that acts in the
 * environment chosen in the header, the operator's right to change things, and paged lists.
 */

/** scope is the selected environment's id and its client, or null when none is selected. */
export function useScope(): { envId: string; api: Baseplate } | null {
  const id = environmentId.value;
  return id ? { envId: id, api: inEnvironment(id) } : null;
}

/** canWrite: whether the signed-in operator may change things (admins; support is read-only). */
export function canWrite(): boolean {
  return session.value?.operator.role === "admin";
}

/**
 * GrantAccess is the access of the support grant a tenant's sections are shown under (`read` or
 * `write`), provided by `SupportGate`; null outside one.
 */
export const GrantAccess = createContext<"read" | "write" | null>(null);

/**
 * useCanWrite: whether the operator may change what the view shows: an admin, and, inside a
 * tenant's sections, under a grant that allows writing (a read-only grant offers no actions; the
 * plane would refuse them).
 */
export function useCanWrite(): boolean {
  const grant = useContext(GrantAccess);
  return canWrite() && grant !== "read";
}

/** ReadOnlyNote tells a support operator why the view offers no actions. */
export function ReadOnlyNote() {
  if (canWrite()) return null;
  return (
    <p class="notice notice-info" role="note">
      You are signed in as <strong>support</strong>: you can read everything here, and changes are made by an admin.
    </p>
  );
}

/** NoEnvironment is the empty state of an environment-scoped view when no environment is selected. */
export function NoEnvironment() {
  return <Empty>No environment is selected: choose a project and an environment in the header.</Empty>;
}

/** EnvironmentNote names the environment a view acts in (and warns when it is production). */
export function EnvironmentNote({ children }: { children?: ComponentChildren }) {
  const env = selectedEnvironment.value;
  if (!env) return null;
  return (
    <>
      In environment <strong>{env.name}</strong>
      {env.production ? " (production: live data)" : ""}. {children}
    </>
  );
}

export interface Page<T> {
  data: T[];
  hasMore: boolean;
  nextCursor: string | null;
}

/**
 * usePaged loads a list's first page when `deps` change and appends the next page on `loadMore`
 * (the `nextCursor` of the last page loaded), keeping the items loaded so far.
 */
export function usePaged<T>(
  load: (cursor: string | undefined, signal: AbortSignal) => Promise<Page<T>>,
  deps: unknown[],
): {
  state: Loaded<Page<T>>;
  items: T[];
  hasMore: boolean;
  loadMore: () => void;
  more: ReturnType<typeof useAction>;
  reload: () => void;
} {
  const [state, reload] = useLoad((signal) => load(undefined, signal), deps);
  const [extra, setExtra] = useState<Page<T> | null>(null);
  useEffect(() => setExtra(null), [state]);
  const more = useAction();
  const first = state.status === "ok" ? state.data : null;
  const items = first ? [...first.data, ...(extra?.data ?? [])] : [];
  const last = extra ?? first;
  const hasMore = Boolean(last?.hasMore && last.nextCursor);
  const loadMore = () => {
    const cursor = last?.nextCursor;
    if (!cursor) return;
    let page: Page<T> | null = null;
    void more
      .run(async () => {
        page = await load(cursor, new AbortController().signal);
      })
      .then((ok) => {
        const p = page as Page<T> | null;
        if (ok && p)
          setExtra({ data: [...(extra?.data ?? []), ...p.data], hasMore: p.hasMore, nextCursor: p.nextCursor });
      });
  };
  return { state, items, hasMore, loadMore, more, reload };
}

/** LoadMore is the button under a paged table. */
export function LoadMore({ hasMore, busy, onClick }: { hasMore: boolean; busy: boolean; onClick: () => void }) {
  if (!hasMore) return null;
  return (
    <p class="load-more">
      <button type="button" class="button" disabled={busy} onClick={onClick}>
        {busy ? "Loading…" : "Load more"}
      </button>
    </p>
  );
}

/** splitList turns "a, b c" into ["a", "b", "c"]. */
export function splitList(text: string): string[] {
  return text
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter(Boolean);
}

/** expiryIn turns a choice of days ("30", "never") into an ISO time or undefined. */
export function expiryIn(days: string): string | undefined {
  return days === "never" ? undefined : new Date(Date.now() + Number(days) * 86_400_000).toISOString();
}

/** GraceSelect offers how long a rotated key keeps working (seconds, as a string). */
export function GraceSelect({ id, value, onChange }: { id: string; value: string; onChange: (v: string) => void }) {
  return (
    <>
      <label for={id}>The old key keeps working</label>
      <select id={id} value={value} onChange={(e) => onChange(e.currentTarget.value)}>
        <option value="0">not at all (it stops now)</option>
        <option value="3600">for an hour</option>
        <option value="86400">for a day</option>
        <option value="604800">for a week</option>
      </select>
    </>
  );
}

/** ExpirySelect offers a key's lifetime. */
export function ExpirySelect({ id, value, onChange }: { id: string; value: string; onChange: (v: string) => void }) {
  return (
    <select id={id} value={value} onChange={(e) => onChange(e.currentTarget.value)}>
      <option value="30">in 30 days</option>
      <option value="90">in 90 days</option>
      <option value="365">in a year</option>
      <option value="never">never</option>
    </select>
  );
}

/** ShownOnce shows a new secret once, with a copy button, until the operator dismisses it. */
export function ShownOnce({
  title,
  value,
  label,
  onDismiss,
}: {
  title: string;
  value: string;
  label: string;
  onDismiss: () => void;
}) {
  return (
    <div class="notice notice-success" role="status">
      <p class="notice-title">{title}</p>
      <p>Copy it now: it is shown only once and cannot be retrieved later.</p>
      <span class="shown-once">
        <Copyable value={value} label={label} />
      </span>
      <p>
        <button type="button" class="button button-small" onClick={onDismiss}>
          I have stored it
        </button>
      </p>
    </div>
  );
}

/**
 * Confirm is the dialog in front of a destructive or state-changing action: it says what will
 * happen and, when `reason` is asked for, requires one (it is recorded with the change and in the
 * audit trail). `act` receives the reason and resolves when the write is done.
 */
export function Confirm({
  title,
  open,
  onClose,
  confirmLabel,
  danger = true,
  reason,
  extra,
  act,
  children,
}: {
  title: string;
  open: boolean;
  onClose: (done: boolean) => void;
  confirmLabel: string;
  danger?: boolean;
  /** reason: the label of a required reason field (absent: no reason is asked). */
  reason?: string;
  /** extra: more form fields, above the reason. */
  extra?: ComponentChildren;
  act: (reason: string) => Promise<unknown>;
  children: ComponentChildren;
}) {
  return (
    <Dialog title={title} open={open} onClose={() => onClose(false)}>
      <ConfirmForm
        confirmLabel={confirmLabel}
        danger={danger}
        reason={reason}
        extra={extra}
        act={act}
        onClose={onClose}
      >
        {children}
      </ConfirmForm>
    </Dialog>
  );
}

function ConfirmForm({
  confirmLabel,
  danger,
  reason,
  extra,
  act,
  onClose,
  children,
}: {
  confirmLabel: string;
  danger: boolean;
  reason: string | undefined;
  extra: ComponentChildren;
  act: (reason: string) => Promise<unknown>;
  onClose: (done: boolean) => void;
  children: ComponentChildren;
}) {
  const [text, setText] = useState("");
  const action = useAction();
  const submit = async (e: Event) => {
    e.preventDefault();
    if (await action.run(() => act(text.trim()))) onClose(true);
  };
  return (
    <form onSubmit={submit} class="form">
      {action.problem && <ProblemNotice problem={action.problem} />}
      <div class="confirm-text">{children}</div>
      {extra}
      {reason && (
        <>
          <label for="confirm-reason">{reason}</label>
          <textarea
            id="confirm-reason"
            required
            maxLength={500}
            rows={3}
            aria-describedby="confirm-reason-help"
            value={text}
            onInput={(e) => setText(e.currentTarget.value)}
          />
          <p id="confirm-reason-help" class="muted small">
            Required. Recorded with the change and in the audit trail.
          </p>
        </>
      )}
      <div class="form-actions">
        <button type="button" class="button" onClick={() => onClose(false)}>
          Cancel
        </button>
        <button
          type="submit"
          class={`button ${danger ? "button-danger" : "button-primary"}`}
          disabled={action.busy || (reason !== undefined && text.trim() === "")}
        >
          {action.busy ? "Working…" : confirmLabel}
        </button>
      </div>
    </form>
  );
}

const names = new Map<string, Promise<string | null>>();

/**
 * useName resolves a user's email or a tenant's name for display (one call per id and environment,
 * remembered for the page's life); null while loading or when it cannot be read.
 */
function useName(kind: "user" | "tenant", id: string): string | null {
  const scope = useScope();
  const [name, setName] = useState<string | null>(null);
  useEffect(() => {
    if (!scope) return;
    const key = `${scope.envId}:${kind}:${id}`;
    let p = names.get(key);
    if (!p) {
      p =
        kind === "user"
          ? scope.api.GET("/v1/users/{userId}", { params: { path: { userId: id } } }).then(
              (r) => r.data?.email ?? null,
              () => null,
            )
          : scope.api.GET("/v1/tenants/{tenantId}", { params: { path: { tenantId: id } } }).then(
              (r) => r.data?.name ?? null,
              () => null,
            );
      names.set(key, p);
      // A failure is not remembered: the next view tries again.
      void p.then((n) => n === null && names.delete(key));
    }
    let live = true;
    void p.then((n) => live && setName(n));
    return () => {
      live = false;
    };
  }, [scope?.envId, kind, id]);
  return name;
}

/** UserLink links to a user, shown by email once known (by id until then). */
export function UserLink({ id }: { id: string }) {
  const name = useName("user", id);
  return (
    <>
      <Link href={`/users/${id}`}>{name ?? id}</Link>
      {name && (
        <>
          {" "}
          <code class="id small">{id}</code>
        </>
      )}
    </>
  );
}

/** TenantLink links to a tenant, shown by name once known (by id until then). */
export function TenantLink({ id }: { id: string }) {
  const name = useName("tenant", id);
  return (
    <>
      <Link href={`/tenants/${id}`}>{name ?? id}</Link>
      {name && (
        <>
          {" "}
          <code class="id small">{id}</code>
        </>
      )}
    </>
  );
}
