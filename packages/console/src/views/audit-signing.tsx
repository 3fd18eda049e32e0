import { unwrap } from "@baseplate/sdk";
import { plane } from "../api.js";
import { session } from "../session.js";
import { Badge, Empty, PageHeader, ProblemNotice, Show, Time, useAction, useLoad } from "../ui.js";

/**
 * AuditSigning shows the Ed25519 keys that sign audit checkpoints (the same list anyone can fetch to
 * verify an exported chain) and lets an admin start signing with a new key.
 */
export function AuditSigning() {
  const [state, reload] = useLoad((signal) => unwrap(plane.GET("/v1/audit/public-keys", { signal })), []);
  const rotate = useAction();
  const admin = session.value?.operator.role === "admin";
  return (
    <>
      <PageHeader
        title="Audit signing"
        subtitle={
          <>
            Checkpoints of every audit chain are signed with these keys. Verifiers fetch them from{" "}
            <code>GET /v1/audit/public-keys</code>; retired keys stay published so old checkpoints still verify.
          </>
        }
        actions={
          admin && (
            <button
              type="button"
              class="button"
              disabled={rotate.busy}
              onClick={() =>
                rotate
                  .run(() => unwrap(plane.POST("/v1/operator/audit/signing-keys/rotate")))
                  .then((ok) => ok && reload())
              }
            >
              {rotate.busy ? "Rotating…" : "Rotate signing key"}
            </button>
          )
        }
      />
      {rotate.problem && <ProblemNotice problem={rotate.problem} />}
      <Show state={state} what="signing keys" retry={reload}>
        {({ keys }) =>
          keys.length === 0 ? (
            <Empty>No signing key yet: the first checkpoint creates one.</Empty>
          ) : (
            <ul class="key-list">
              {keys.map((k) => (
                <li key={k.keyId} class="card">
                  <p class="key-head">
                    <code>{k.keyId}</code> <Badge tone={k.status === "active" ? "good" : "neutral"}>{k.status}</Badge>{" "}
                    <span class="muted">
                      {k.algorithm} · created <Time iso={k.createdAt} />
                    </span>
                  </p>
                  <pre class="pem">{k.publicKey}</pre>
                </li>
              ))}
            </ul>
          )
        }
      </Show>
    </>
  );
}
