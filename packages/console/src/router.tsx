import { signal } from "@preact/signals";
import type { ComponentChildren } from "preact";

/**
 * A small client-side router for the console's few routes: paths are relative to BASE (`/console`),
 * the plane answers index.html for any of them, and history navigation re-renders the view.
 */

export const BASE = "/console";

function current(): string {
  const path = location.pathname.startsWith(BASE) ? location.pathname.slice(BASE.length) : location.pathname;
  return path === "" ? "/" : path;
}

/** path is the current console path (`/projects/prj_…`). */
export const path = signal(current());

addEventListener("popstate", () => {
  path.value = current();
});

/** navigate moves to a console path; `replace` rewrites the current history entry instead. */
export function navigate(to: string, replace = false): void {
  if (to === path.value) return;
  history[replace ? "replaceState" : "pushState"](null, "", BASE + to);
  path.value = to;
  // A new view: move focus to its heading so keyboard and screen-reader users start there.
  queueMicrotask(() => (document.querySelector<HTMLElement>("main h1") ?? document.querySelector("main"))?.focus());
}

/** match tests a pattern (`/projects/:projectId`) against a path and returns its parameters. */
export function match(pattern: string, p: string): Record<string, string> | null {
  const a = pattern.replace(/\/+$/, "").split("/");
  const b = p.replace(/\/+$/, "").split("/");
  if (a.length !== b.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < a.length; i++) {
    const seg = a[i] as string;
    const val = b[i] as string;
    if (seg.startsWith(":")) {
      if (val === "") return null;
      params[seg.slice(1)] = decodeURIComponent(val);
    } else if (seg !== val) return null;
  }
  return params;
}

interface LinkProps {
  href: string;
  class?: string;
  "aria-current"?: "page";
  children?: ComponentChildren;
}

/** Link is an anchor to a console path that navigates without reloading (new tabs still work). */
export function Link({ href, children, ...rest }: LinkProps) {
  const onClick = (e: MouseEvent) => {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(href);
  };
  return (
    <a href={BASE + href} onClick={onClick} {...rest}>
      {children}
    </a>
  );
}
