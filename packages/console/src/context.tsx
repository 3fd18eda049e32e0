import type { components } from "@baseplate/sdk";
import { computed, effect, signal } from "@preact/signals";
import { plane } from "./api.js";
import { session } from "./session.js";

export type Project = components["schemas"]["Project"];
export type Environment = components["schemas"]["Environment"];

/**
 * The project and environment the operator is working in: always visible in the header, kept
 * across reloads (localStorage holds ids only), and the environment named by every
 * environment-scoped call (`inEnvironment(selectedEnvironmentId)`).
 */

const KEY = "baseplate.console.context";
const saved = (() => {
  try {
    return JSON.parse(localStorage.getItem(KEY) ?? "{}") as { projectId?: string; environmentId?: string };
  } catch {
    return {};
  }
})();

export const projects = signal<Project[] | null>(null);
export const environments = signal<Environment[] | null>(null);
export const contextError = signal<string | null>(null);
export const projectId = signal<string | null>(saved.projectId ?? null);
export const environmentId = signal<string | null>(saved.environmentId ?? null);

export const selectedEnvironment = computed(
  () => environments.value?.find((e) => e.id === environmentId.value) ?? null,
);

effect(() => {
  localStorage.setItem(KEY, JSON.stringify({ projectId: projectId.value, environmentId: environmentId.value }));
});

async function all<T>(items: AsyncIterable<T>, cap = 500): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) {
    out.push(item);
    if (out.length >= cap) break;
  }
  return out;
}

/** refreshProjects reloads the project list (after a sign-in, a project created or archived). */
export async function refreshProjects(): Promise<void> {
  try {
    const list = await all(plane.paginate("/v1/projects", { query: { limit: 100 } }));
    projects.value = list;
    contextError.value = null;
    if (!list.some((p) => p.id === projectId.value)) selectProject(list[0]?.id ?? null);
    else await refreshEnvironments();
  } catch {
    contextError.value = "Projects could not be loaded.";
  }
}

/** refreshEnvironments reloads the selected project's environments. */
export async function refreshEnvironments(): Promise<void> {
  const id = projectId.value;
  if (!id) {
    environments.value = [];
    environmentId.value = null;
    return;
  }
  try {
    const list = await all(
      plane.paginate("/v1/projects/{projectId}/environments", { path: { projectId: id }, query: { limit: 100 } }),
    );
    if (projectId.value !== id) return;
    environments.value = list;
    if (!list.some((e) => e.id === environmentId.value)) {
      environmentId.value = (list.find((e) => !e.production) ?? list[0])?.id ?? null;
    }
  } catch {
    contextError.value = "Environments could not be loaded.";
  }
}

export function selectProject(id: string | null): void {
  projectId.value = id;
  environments.value = null;
  void refreshEnvironments();
}

export function selectEnvironment(id: string): void {
  environmentId.value = id;
}

// Signing in (or switching operator) loads the lists; signing out forgets them.
effect(() => {
  if (session.value) void refreshProjects();
  else {
    projects.value = null;
    environments.value = null;
  }
});
