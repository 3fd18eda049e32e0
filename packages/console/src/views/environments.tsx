import { unwrap } from "@baseplate/sdk";
import { useState } from "preact/hooks";
import { plane } from "../api.js";
import { type Environment, environmentId, projectId, projects, selectEnvironment, selectProject } from "../context.js";
import { Link } from "../router.js";
import { Badge, Empty, Fields, PageHeader, Show, Time, useLoad } from "../ui.js";

/** EnvironmentTable lists environments, production ones marked. */
export function EnvironmentTable({ environments }: { environments: Environment[] }) {
  return (
    <table class="table">
      <caption class="visually-hidden">Environments</caption>
      <thead>
        <tr>
          <th scope="col">Name</th>
          <th scope="col">Slug</th>
          <th scope="col">Id</th>
          <th scope="col">Kind</th>
          <th scope="col">Created</th>
        </tr>
      </thead>
      <tbody>
        {environments.map((e) => (
          <tr key={e.id} class={e.production ? "row-production" : ""}>
            <td>
              <Link href={`/environments/${e.id}`}>{e.name}</Link>
              {e.archivedAt && <Badge>archived</Badge>}
            </td>
            <td>
              <code>{e.slug}</code>
            </td>
            <td>
              <code class="id">{e.id}</code>
            </td>
            <td>{e.production ? <Badge tone="warn">production</Badge> : <Badge>non-production</Badge>}</td>
            <td>
              <Time iso={e.createdAt} />
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** Environments lists the environments of the project chosen in the header. */
export function Environments() {
  const [archived, setArchived] = useState(false);
  const id = projectId.value;
  const project = projects.value?.find((p) => p.id === id);
  const [state, reload] = useLoad(
    async (signal) =>
      id
        ? unwrap(
            plane.GET("/v1/projects/{projectId}/environments", {
              params: { path: { projectId: id }, query: { limit: 100, archived: archived ? "true" : "false" } },
              signal,
            }),
          )
        : { data: [] as Environment[], hasMore: false, nextCursor: null },
    [id, archived],
  );
  return (
    <>
      <PageHeader
        title="Environments"
        subtitle={
          project ? (
            <>
              Of project <Link href={`/projects/${project.id}`}>{project.name}</Link> (change it in the header).
            </>
          ) : (
            "Choose a project in the header."
          )
        }
      />
      <label class="toggle">
        <input type="checkbox" checked={archived} onChange={(e) => setArchived(e.currentTarget.checked)} /> Show
        archived
      </label>
      <Show state={state} what="environments" retry={reload}>
        {(page) =>
          page.data.length === 0 ? (
            <Empty>{id ? "This project has no environments." : "No project is selected."}</Empty>
          ) : (
            <EnvironmentTable environments={page.data} />
          )
        }
      </Show>
    </>
  );
}

/** EnvironmentDetail shows one environment and its surfaces (the apps and APIs that front it). */
export function EnvironmentDetail({ environmentId: id }: { environmentId: string }) {
  const [state, reload] = useLoad(
    async (signal) => {
      const [env, surfaces] = await Promise.all([
        unwrap(plane.GET("/v1/environments/{environmentId}", { params: { path: { environmentId: id } }, signal })),
        unwrap(
          plane.GET("/v1/environments/{environmentId}/surfaces", {
            params: { path: { environmentId: id }, query: { limit: 100 } },
            signal,
          }),
        ),
      ]);
      return { env, surfaces: surfaces.data };
    },
    [id],
  );
  return (
    <>
      {state.status !== "ok" && (
        <PageHeader title="Environment" subtitle={<Link href="/environments">Environments</Link>} />
      )}
      <Show state={state} what="the environment" retry={reload}>
        {({ env, surfaces }) => {
          const current = environmentId.value === env.id;
          return (
            <>
              <PageHeader
                title={
                  <>
                    {env.name} {env.production && <Badge tone="warn">production</Badge>}
                  </>
                }
                subtitle={
                  <>
                    <Link href={`/projects/${env.projectId}`}>
                      {projects.value?.find((p) => p.id === env.projectId)?.name ?? "Project"}
                    </Link>{" "}
                    / <Link href="/environments">Environments</Link> / {env.name}
                  </>
                }
                actions={
                  <button
                    type="button"
                    class="button"
                    disabled={current}
                    onClick={() => {
                      if (projectId.value !== env.projectId) selectProject(env.projectId);
                      selectEnvironment(env.id);
                    }}
                  >
                    {current ? "Current environment" : "Work in this environment"}
                  </button>
                }
              />
              {env.production && (
                <p class="notice notice-warn">
                  This is a production environment: its tenants, users and money are real.
                </p>
              )}
              <section class="card">
                <Fields
                  rows={[
                    ["Id", <code key="id">{env.id}</code>],
                    ["Slug", <code key="slug">{env.slug}</code>],
                    ["Production", env.production ? "Yes" : "No"],
                    ["Created", <Time key="c" iso={env.createdAt} />],
                    [
                      "State",
                      env.archivedAt ? (
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
              <h2>Surfaces</h2>
              <p class="muted">The apps, APIs and agents that sign users in and call the plane for this environment.</p>
              {surfaces.length === 0 ? (
                <Empty>This environment has no surfaces.</Empty>
              ) : (
                <table class="table">
                  <caption class="visually-hidden">Surfaces</caption>
                  <thead>
                    <tr>
                      <th scope="col">Name</th>
                      <th scope="col">Kind</th>
                      <th scope="col">Allowed origins</th>
                      <th scope="col">Scope ceiling</th>
                      <th scope="col">Self sign-up</th>
                      <th scope="col">Id</th>
                    </tr>
                  </thead>
                  <tbody>
                    {surfaces.map((s) => (
                      <tr key={s.id}>
                        <td>{s.name}</td>
                        <td>
                          <Badge>{s.kind}</Badge>
                        </td>
                        <td>
                          {s.allowedOrigins.length === 0 ? (
                            <span class="muted">none</span>
                          ) : (
                            s.allowedOrigins.map((o) => (
                              <code key={o} class="chip">
                                {o}
                              </code>
                            ))
                          )}
                        </td>
                        <td>
                          {s.scopeCeiling.map((p) => (
                            <code key={p} class="chip">
                              {p}
                            </code>
                          ))}
                        </td>
                        <td>{s.selfSignup ? "On" : "Off"}</td>
                        <td>
                          <code class="id">{s.id}</code>
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              )}
            </>
          );
        }}
      </Show>
    </>
  );
}
