import {
  contextError,
  environmentId,
  environments,
  projectId,
  projects,
  selectEnvironment,
  selectedEnvironment,
  selectProject,
} from "./context.js";

/**
 * ContextSwitcher picks the project and environment the console acts in. A production environment
 * is marked in the warning colour, in the control itself and by a label beside it.
 */
export function ContextSwitcher() {
  const env = selectedEnvironment.value;
  const prod = env?.production === true;
  return (
    <fieldset class={`context ${prod ? "context-production" : ""}`}>
      <legend class="visually-hidden">Working context</legend>
      <div class="context-field">
        <label for="context-project">Project</label>
        <select
          id="context-project"
          value={projectId.value ?? ""}
          disabled={!projects.value || projects.value.length === 0}
          onChange={(e) => selectProject(e.currentTarget.value || null)}
        >
          {!projects.value && <option value="">Loading…</option>}
          {projects.value?.length === 0 && <option value="">No projects</option>}
          {projects.value?.map((p) => (
            <option key={p.id} value={p.id}>
              {p.name}
            </option>
          ))}
        </select>
      </div>
      <span class="context-sep" aria-hidden="true">
        /
      </span>
      <div class="context-field">
        <label for="context-environment">Environment</label>
        <select
          id="context-environment"
          class={prod ? "production" : ""}
          value={environmentId.value ?? ""}
          disabled={!environments.value || environments.value.length === 0}
          aria-describedby={prod ? "context-production-note" : undefined}
          onChange={(e) => selectEnvironment(e.currentTarget.value)}
        >
          {!environments.value && <option value="">Loading…</option>}
          {environments.value?.length === 0 && <option value="">No environments</option>}
          {environments.value?.map((e) => (
            <option key={e.id} value={e.id}>
              {e.name}
              {e.production ? " (production)" : ""}
            </option>
          ))}
        </select>
      </div>
      {prod && (
        <span id="context-production-note" class="badge badge-warn context-badge">
          Production: live data
        </span>
      )}
      {contextError.value && (
        <span class="badge badge-bad" role="status">
          {contextError.value}
        </span>
      )}
    </fieldset>
  );
}
