import { type Baseplate, unwrap } from "@baseplate/sdk";
import { type ManifestFile, parseManifest, type Sections, sectionsFor, toYaml } from "@baseplate/sdk/manifest";
import { useEffect, useState } from "preact/hooks";
import { inEnvironment } from "../api.js";
import { InEnvironment } from "../lists.js";
import { session } from "../session.js";
import { Badge, Empty, PageHeader, ProblemNotice, useAction } from "../ui.js";

type Plan = Awaited<ReturnType<typeof plan>>;
type Change = Plan["changes"][number];

function plan(client: Baseplate, manifest: Sections) {
  return unwrap(client.POST("/v1/manifest/plan", { body: { manifest } }));
}

const SIGN: Record<Change["action"], string> = { create: "+", update: "~", delete: "−" };
const TONE: Record<string, "good" | "warn" | "bad"> = { additive: "good", behaviour: "warn", destructive: "bad" };

/**
 * Configuration: the environment's configuration as a manifest (`baseplate.yaml`, docs/manifest.md):
 * export what is live, plan a manifest against it (each change with its risk and what it affects)
 * and, for admins, apply it all or nothing, as `baseplate plan` and `baseplate apply` do.
 */
export function Configuration() {
  return (
    <>
      <PageHeader
        title="Configuration"
        subtitle="The environment's configuration as a manifest: export it, plan a manifest against it, apply it."
      />
      <InEnvironment>{(id) => <ConfigurationPanel key={id} client={inEnvironment(id)} />}</InEnvironment>
    </>
  );
}

function ConfigurationPanel({ client }: { client: Baseplate }) {
  return (
    <>
      <Export client={client} />
      <PlanAndApply client={client} />
    </>
  );
}

/** Export writes the live configuration as `baseplate.yaml` to save. */
function Export({ client }: { client: Baseplate }) {
  const action = useAction();
  const [file, setFile] = useState<{ url: string; sections: string[]; omitted: string[] } | null>(null);
  useEffect(() => () => (file ? URL.revokeObjectURL(file.url) : undefined), [file]);
  const run = () =>
    action.run(async () => {
      const exported = await unwrap(client.GET("/v1/manifest"));
      const yaml = toYaml(exported.manifest as Sections, { schemaUrl: `${location.origin}/v1/manifest/schema` });
      setFile({
        url: URL.createObjectURL(new Blob([yaml], { type: "application/yaml" })),
        sections: Object.keys(exported.manifest),
        omitted: exported.omitted.map((o) => `${o.section}: ${o.reason}`),
      });
    });
  return (
    <section class="card" aria-labelledby="config-export">
      <h2 id="config-export">Export</h2>
      <p class="muted">What is live in this environment, as a manifest to review, edit and apply again.</p>
      {file ? (
        <>
          <a class="button" href={file.url} download="baseplate.yaml">
            Save baseplate.yaml
          </a>{" "}
          <span class="muted small">Sections: {file.sections.join(", ")}</span>
          {file.omitted.map((o) => (
            <p key={o} class="muted small">
              Left out: {o}
            </p>
          ))}
        </>
      ) : (
        <button type="button" class="button" disabled={action.busy} onClick={() => void run()}>
          {action.busy ? "Exporting…" : "Export the configuration"}
        </button>
      )}
      {action.problem && <ProblemNotice problem={action.problem} />}
    </section>
  );
}

/** PlanAndApply plans a manifest (pasted or loaded from a file) and, for admins, applies that plan. */
function PlanAndApply({ client }: { client: Baseplate }) {
  const [text, setText] = useState("");
  const [env, setEnv] = useState("");
  const [invalid, setInvalid] = useState<string | null>(null);
  const [planned, setPlanned] = useState<{ manifest: Sections; plan: Plan } | null>(null);
  const [allowDestructive, setAllowDestructive] = useState(false);
  const [applied, setApplied] = useState<string | null>(null);
  const planning = useAction();
  const applying = useAction();
  const admin = session.value?.operator.role === "admin";
  let file: ManifestFile | null = null;
  try {
    file = text.trim() ? parseManifest(text, "the manifest") : null;
  } catch {
    file = null;
  }
  const environments = file ? Object.keys(file.environments) : [];
  const run = () => {
    setApplied(null);
    setPlanned(null);
    let manifest: Sections;
    try {
      manifest = sectionsFor(parseManifest(text, "the manifest"), env || undefined);
      setInvalid(null);
    } catch (err) {
      setInvalid((err as Error).message);
      return;
    }
    void planning.run(async () => setPlanned({ manifest, plan: await plan(client, manifest) }));
  };
  const apply = () =>
    applying.run(async () => {
      if (!planned) return;
      const result = await unwrap(
        client.POST("/v1/manifest/apply", {
          body: { manifest: planned.manifest, liveHash: planned.plan.liveHash, allowDestructive },
        }),
      );
      setApplied(`Applied ${result.summary.changes} change(s); audited as manifest.applied.`);
      setPlanned({ manifest: planned.manifest, plan: await plan(client, planned.manifest) });
    });
  const s = planned?.plan.summary;
  return (
    <section class="card" aria-labelledby="config-plan">
      <h2 id="config-plan">Plan a manifest</h2>
      <form
        class="form"
        onSubmit={(e) => {
          e.preventDefault();
          run();
        }}
      >
        <label for="config-file">Load a file</label>
        <input
          id="config-file"
          type="file"
          accept=".yaml,.yml,.json"
          onChange={async (e) => {
            const f = e.currentTarget.files?.[0];
            if (f) setText(await f.text());
          }}
        />
        <label for="config-text">Manifest (YAML)</label>
        <textarea
          id="config-text"
          rows={14}
          spellcheck={false}
          value={text}
          onInput={(e) => setText(e.currentTarget.value)}
          placeholder={'version: 1\nroles:\n  - key: analyst\n    name: Analyst\n    permissions: ["usage:read"]'}
        />
        {environments.length > 0 && (
          <>
            <label for="config-env">Environment in the file</label>
            <select id="config-env" value={env} onChange={(e) => setEnv(e.currentTarget.value)}>
              <option value="">Choose one…</option>
              {environments.map((name) => (
                <option key={name} value={name}>
                  {name}
                </option>
              ))}
            </select>
          </>
        )}
        <div>
          <button type="submit" class="button button-primary" disabled={planning.busy || !text.trim()}>
            {planning.busy ? "Planning…" : "Plan"}
          </button>
        </div>
      </form>
      {invalid && (
        <p class="notice notice-error" role="alert">
          {invalid}
        </p>
      )}
      {planning.problem && <ProblemNotice problem={planning.problem} />}
      {applied && (
        <p class="notice notice-success" role="status">
          {applied}
        </p>
      )}
      {planned && s && (
        <>
          {planned.plan.changes.length === 0 ? (
            <Empty>No changes: the environment matches the manifest.</Empty>
          ) : (
            <>
              <ChangesTable changes={planned.plan.changes} />
              <p>
                {s.changes} change(s): {s.additive} additive, {s.behaviour} behaviour, {s.destructive} destructive
                {s.blocked > 0 && `; ${s.blocked} blocked (the plane refuses the manifest until they are resolved)`}.
              </p>
              {admin && s.blocked === 0 && (
                <div class="actions">
                  {s.destructive > 0 && (
                    <label class="checkbox">
                      <input
                        type="checkbox"
                        checked={allowDestructive}
                        onChange={(e) => setAllowDestructive(e.currentTarget.checked)}
                      />
                      Make the destructive changes too
                    </label>
                  )}
                  <button
                    type="button"
                    class="button button-danger"
                    disabled={applying.busy || (s.destructive > 0 && !allowDestructive)}
                    onClick={() => void apply()}
                  >
                    {applying.busy ? "Applying…" : `Apply ${s.changes} change(s)`}
                  </button>
                </div>
              )}
            </>
          )}
          {applying.problem && <ProblemNotice problem={applying.problem} />}
        </>
      )}
    </section>
  );
}

function ChangesTable({ changes }: { changes: Change[] }) {
  return (
    <div class="table-scroll">
      <table class="table">
        <caption>Changes</caption>
        <thead>
          <tr>
            <th scope="col">Change</th>
            <th scope="col">Risk</th>
            <th scope="col">What it does</th>
          </tr>
        </thead>
        <tbody>
          {changes.map((c) => (
            <tr key={`${c.section}/${c.key}`}>
              <td>
                <code>
                  {SIGN[c.action]} {c.section}/{c.key}
                </code>
              </td>
              <td>
                <Badge tone={TONE[c.risk] ?? "neutral"}>{c.risk}</Badge>
              </td>
              <td>
                {c.summary}
                {c.affected.map((a) => (
                  <div key={a.what} class="muted small">
                    affects {a.count} {a.what}
                  </div>
                ))}
                {c.blocked && (
                  <div class="small">
                    <Badge tone="bad">blocked</Badge> {c.blocked}
                  </div>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
