import { unwrap } from "@baseplate/sdk";
import { useState } from "preact/hooks";
import { plane } from "../api.js";
import { refreshEnvironments, refreshProjects, projectId as selectedProjectId, selectProject } from "../context.js";
import { Link, navigate } from "../router.js";
import { session } from "../session.js";
import { Badge, Dialog, Empty, Fields, PageHeader, ProblemNotice, Show, Time, useAction, useLoad } from "../ui.js";
import { EnvironmentTable } from "./environments.js";

/** Projects lists the plane's projects (archived ones on request) and creates new ones. */
export function Projects() {
  const [archived, setArchived] = useState(false);
  const [creating, setCreating] = useState(false);
  const [state, reload] = useLoad(
    (signal) =>
      unwrap(
        plane.GET("/v1/projects", { params: { query: { limit: 100, archived: archived ? "true" : "false" } }, signal }),
      ),
    [archived],
  );
  const admin = session.value?.operator.role === "admin";
  return (
    <>
      <PageHeader
        title="Projects"
        subtitle="A project is one product; its environments (production, staging, …) hold its tenants and users."
        actions={
          admin && (
            <button type="button" class="button button-primary" onClick={() => setCreating(true)}>
              New project
            </button>
          )
        }
      />
      <label class="toggle">
        <input type="checkbox" checked={archived} onChange={(e) => setArchived(e.currentTarget.checked)} /> Show
        archived
      </label>
      <Show state={state} what="projects" retry={reload}>
        {(page) =>
          page.data.length === 0 ? (
            <Empty>No projects yet.{admin && " Create the first one with “New project”."}</Empty>
          ) : (
            <table class="table">
              <caption class="visually-hidden">Projects</caption>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Slug</th>
                  <th scope="col">Id</th>
                  <th scope="col">Created</th>
                  <th scope="col">State</th>
                </tr>
              </thead>
              <tbody>
                {page.data.map((p) => (
                  <tr key={p.id}>
                    <td>
                      <Link href={`/projects/${p.id}`}>{p.name}</Link>
                    </td>
                    <td>
                      <code>{p.slug}</code>
                    </td>
                    <td>
                      <code class="id">{p.id}</code>
                    </td>
                    <td>
                      <Time iso={p.createdAt} />
                    </td>
                    <td>{p.archivedAt ? <Badge>archived</Badge> : <Badge tone="good">active</Badge>}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )
        }
      </Show>
      {state.status === "ok" && state.data.hasMore && (
        <p class="muted small">Showing the first {state.data.data.length} projects.</p>
      )}
      <Dialog title="New project" open={creating} onClose={() => setCreating(false)}>
        <CreateProject
          onDone={(id) => {
            setCreating(false);
            reload();
            void refreshProjects();
            if (id) navigate(`/projects/${id}`);
          }}
        />
      </Dialog>
    </>
  );
}

function CreateProject({ onDone }: { onDone: (id?: string) => void }) {
  const [name, setName] = useState("");
  const [slug, setSlug] = useState("");
  const action = useAction();
  let createdId: string | undefined;
  const submit = async (e: Event) => {
    e.preventDefault();
    const ok = await action.run(async () => {
      const p = await unwrap(plane.POST("/v1/projects", { body: { name, ...(slug ? { slug } : {}) } }));
      createdId = p.id;
    });
    if (ok) onDone(createdId);
  };
  return (
    <form onSubmit={submit} class="form">
      {action.problem && <ProblemNotice problem={action.problem} />}
      <label for="project-name">Name</label>
      <input id="project-name" required maxLength={200} value={name} onInput={(e) => setName(e.currentTarget.value)} />
      <label for="project-slug">
        Slug <span class="muted">(optional, derived from the name)</span>
      </label>
      <input
        id="project-slug"
        pattern="[a-z0-9](?:[a-z0-9\-]{0,62}[a-z0-9])?"
        value={slug}
        onInput={(e) => setSlug(e.currentTarget.value)}
      />
      <div class="form-actions">
        <button type="button" class="button" onClick={() => onDone()}>
          Cancel
        </button>
        <button type="submit" class="button button-primary" disabled={action.busy}>
          {action.busy ? "Creating…" : "Create project"}
        </button>
      </div>
    </form>
  );
}

/** ProjectDetail shows one project and its environments. */
export function ProjectDetail({ projectId }: { projectId: string }) {
  const [creating, setCreating] = useState(false);
  const admin = session.value?.operator.role === "admin";
  const [state, reload] = useLoad(
    async (signal) => {
      const [project, envs] = await Promise.all([
        unwrap(plane.GET("/v1/projects/{projectId}", { params: { path: { projectId } }, signal })),
        unwrap(
          plane.GET("/v1/projects/{projectId}/environments", {
            params: { path: { projectId }, query: { limit: 100, archived: "true" } },
            signal,
          }),
        ),
      ]);
      return { project, envs: envs.data };
    },
    [projectId],
  );
  return (
    <>
      {state.status !== "ok" && <PageHeader title="Project" subtitle={<Link href="/projects">Projects</Link>} />}
      <Show state={state} what="the project" retry={reload}>
        {({ project, envs }) => (
          <>
            <PageHeader
              title={project.name}
              subtitle={
                <>
                  <Link href="/projects">Projects</Link> / {project.name}
                </>
              }
              actions={
                <>
                  <button
                    type="button"
                    class="button"
                    disabled={selectedProjectId.value === project.id}
                    onClick={() => selectProject(project.id)}
                  >
                    {selectedProjectId.value === project.id ? "Current project" : "Work in this project"}
                  </button>
                  {admin && !project.archivedAt && (
                    <button type="button" class="button button-primary" onClick={() => setCreating(true)}>
                      New environment
                    </button>
                  )}
                </>
              }
            />
            <section class="card">
              <Fields
                rows={[
                  ["Id", <code key="id">{project.id}</code>],
                  ["Slug", <code key="slug">{project.slug}</code>],
                  ["Created", <Time key="c" iso={project.createdAt} />],
                  ["Updated", <Time key="u" iso={project.updatedAt} />],
                  [
                    "State",
                    project.archivedAt ? (
                      <Badge key="s">archived</Badge>
                    ) : (
                      <Badge key="s" tone="good">
                        active
                      </Badge>
                    ),
                  ],
                ]}
              />
            </section>
            <h2>Environments</h2>
            {envs.length === 0 ? (
              <Empty>This project has no environments.</Empty>
            ) : (
              <EnvironmentTable environments={envs} />
            )}
          </>
        )}
      </Show>
      <Dialog title="New environment" open={creating} onClose={() => setCreating(false)}>
        <CreateEnvironment
          projectId={projectId}
          onDone={(created) => {
            setCreating(false);
            if (created) {
              reload();
              if (selectedProjectId.value === projectId) void refreshEnvironments();
            }
          }}
        />
      </Dialog>
    </>
  );
}

function CreateEnvironment({ projectId, onDone }: { projectId: string; onDone: (created: boolean) => void }) {
  const [name, setName] = useState("");
  const [slug, setSlug] = useState("");
  const [production, setProduction] = useState(false);
  const action = useAction();
  const submit = async (e: Event) => {
    e.preventDefault();
    const body = { name, production, ...(slug ? { slug } : {}) };
    const ok = await action.run(() =>
      unwrap(plane.POST("/v1/projects/{projectId}/environments", { params: { path: { projectId } }, body })),
    );
    if (ok) onDone(true);
  };
  return (
    <form onSubmit={submit} class="form">
      {action.problem && <ProblemNotice problem={action.problem} />}
      <label for="environment-name">Name</label>
      <input
        id="environment-name"
        required
        maxLength={200}
        value={name}
        onInput={(e) => setName(e.currentTarget.value)}
      />
      <label for="environment-slug">
        Slug <span class="muted">(optional, derived from the name)</span>
      </label>
      <input
        id="environment-slug"
        pattern="[a-z0-9](?:[a-z0-9\-]{0,62}[a-z0-9])?"
        value={slug}
        onInput={(e) => setSlug(e.currentTarget.value)}
      />
      <label class="checkbox" for="environment-production">
        <input
          id="environment-production"
          type="checkbox"
          checked={production}
          onChange={(e) => setProduction(e.currentTarget.checked)}
        />
        Production: live data and real money (test-only tools are refused in it)
      </label>
      <div class="form-actions">
        <button type="button" class="button" onClick={() => onDone(false)}>
          Cancel
        </button>
        <button type="submit" class="button button-primary" disabled={action.busy}>
          {action.busy ? "Creating…" : "Create environment"}
        </button>
      </div>
    </form>
  );
}
