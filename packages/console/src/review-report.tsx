import { type Baseplate, unwrap } from "@baseplate/sdk";
import { useEffect, useRef, useState } from "preact/hooks";
import { Badge, Fields, ProblemNotice, Time, useAction } from "./ui.js";

/** Signed: the signed report (the route also answers Markdown, HTML and PDF, as text, by `format`). */
type Signed = Exclude<Awaited<ReturnType<typeof fetchReport>>, string>;
type Block = Signed["report"]["topics"][number]["parts"][number]["blocks"][number];
type Value = string | number | boolean | null;
type Format = "markdown" | "html" | "pdf";

const PERIODS = [7, 30, 90, 365] as const;
const FILES: Record<Format, { label: string; type: string; ext: string }> = {
  pdf: { label: "PDF", type: "application/pdf", ext: "pdf" },
  markdown: { label: "Markdown", type: "text/markdown", ext: "md" },
  html: { label: "HTML", type: "text/html", ext: "html" },
};

function fetchReport(client: Baseplate, periodDays: number) {
  return unwrap(client.GET("/v1/review", { params: { query: { format: "json", periodDays } } }));
}

/** ReviewSource: where a report comes from: the environment's (`tenantId` null) or one tenant's. */
export interface ReviewSource {
  client: Baseplate;
  tenantId: string | null;
}

async function generate({ client, tenantId }: ReviewSource, periodDays: number): Promise<Signed> {
  const query = { format: "json" as const, periodDays };
  const answer = await (tenantId
    ? unwrap(client.GET("/v1/tenants/{tenantId}/review", { params: { path: { tenantId }, query } }))
    : fetchReport(client, periodDays));
  if (typeof answer === "string") throw new Error("the plane answered text where the signed report was asked for");
  return answer;
}

function fetchBlob({ client, tenantId }: ReviewSource, format: Format, periodDays: number) {
  const query = { format, periodDays };
  return unwrap(
    tenantId
      ? client.GET("/v1/tenants/{tenantId}/review", { params: { path: { tenantId }, query }, parseAs: "blob" })
      : client.GET("/v1/review", { params: { query }, parseAs: "blob" }),
  );
}

/**
 * ReviewPanel generates a review report when asked (the environment's, or one tenant's), shows
 * it, and saves it as PDF, Markdown or HTML (each a report signed anew: the last two carry the
 * signed JSON, which `baseplate review verify` checks) or as the signed JSON shown.
 */
export function ReviewPanel({ source }: { source: ReviewSource }) {
  const [period, setPeriod] = useState<number>(30);
  const [signed, setSigned] = useState<Signed | null>(null);
  const action = useAction();
  const run = () =>
    action.run(async () => {
      setSigned(await generate(source, period));
    });
  return (
    <>
      <section class="card" aria-labelledby="review-generate">
        <h2 id="review-generate">Generate</h2>
        <form
          class="filters"
          aria-label="Review report"
          onSubmit={(e) => {
            e.preventDefault();
            void run();
          }}
        >
          <div class="filter">
            <label for="review-period">Period</label>
            <select id="review-period" value={period} onChange={(e) => setPeriod(Number(e.currentTarget.value))}>
              {PERIODS.map((d) => (
                <option key={d} value={d}>
                  Last {d} days
                </option>
              ))}
            </select>
          </div>
          <button type="submit" class="button button-primary" disabled={action.busy}>
            {action.busy ? "Generating… (the isolation self-test runs now)" : "Generate report"}
          </button>
        </form>
        {action.problem && <ProblemNotice problem={action.problem} />}
      </section>
      {signed && <Report signed={signed} source={source} period={period} />}
    </>
  );
}

function Report({ signed, source, period }: { signed: Signed; source: ReviewSource; period: number }) {
  const r = signed.report;
  return (
    <>
      <section class="card" aria-labelledby="review-about">
        <h2 id="review-about">This report</h2>
        <Fields
          rows={[
            [
              "Environment",
              `${r.environment.name ?? r.environment.id}${r.environment.production ? " (production)" : ""}`,
            ],
            ["Generated", <Time key="t" iso={r.generatedAt} />],
            ["Period", `${r.period.from.slice(0, 10)} to ${r.period.to.slice(0, 10)}`],
            [
              "Audit chain",
              `${r.audit.size} entries, head ${r.audit.headHash ? `${r.audit.headHash.slice(0, 16)}…` : "—"}`,
            ],
            [
              "Latest signed checkpoint",
              r.audit.checkpoint ? `at ${r.audit.checkpoint.size} entries, ${r.audit.checkpoint.time}` : "none yet",
            ],
            ["Signed with", <code key="k">{r.signing.keyId}</code>],
          ]}
        />
        <div class="actions">
          {(Object.keys(FILES) as Format[]).map((f) => (
            <Download key={f} source={source} format={f} period={period} />
          ))}
          <SaveJson signed={signed} />
        </div>
      </section>
      {r.topics.map((t) => (
        <section key={t.topic} class="card" aria-labelledby={`review-${t.topic}`}>
          <h2 id={`review-${t.topic}`}>{t.title}</h2>
          <p class="muted">{t.question}</p>
          {t.parts.length === 0 && <p class="muted">Nothing to report.</p>}
          {t.parts.map((p) => (
            <div key={p.name} class="review-part">
              <h3>{p.title}</h3>
              {p.blocks.map((b, i) => (
                <ReviewBlock key={i} block={b} />
              ))}
            </div>
          ))}
        </section>
      ))}
    </>
  );
}

function show(v: Value): string {
  if (v === null) return "—";
  if (typeof v === "boolean") return v ? "yes" : "no";
  return String(v);
}

function ReviewBlock({ block }: { block: Block }) {
  switch (block.kind) {
    case "text":
      return <p>{block.text}</p>;
    case "facts":
      return <Fields rows={block.items.map((i) => [i.label, show(i.value)])} />;
    case "check":
      return (
        <p>
          <Badge tone={block.ok ? "good" : "bad"}>{block.ok ? "PASS" : "FAIL"}</Badge> <strong>{block.label}:</strong>{" "}
          {block.detail}
        </p>
      );
    case "table":
      return (
        <div class="table-scroll">
          <table class="table">
            <caption>{block.caption}</caption>
            <thead>
              <tr>
                {block.columns.map((c) => (
                  <th key={c} scope="col">
                    {c}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {block.rows.length === 0 && (
                <tr>
                  <td colSpan={block.columns.length} class="muted">
                    None.
                  </td>
                </tr>
              )}
              {block.rows.map((row, i) => (
                <tr key={i}>
                  {row.map((v, j) => (
                    <td key={j}>{show(v)}</td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
          {block.more > 0 && <p class="muted small">…and {block.more} more.</p>}
        </div>
      );
  }
}

/** Download fetches the report in a format for people (a new report, signed anew) and offers to save it. */
function Download({ source, format, period }: { source: ReviewSource; format: Format; period: number }) {
  const action = useAction();
  const [url, setUrl] = useState<string | null>(null);
  const current = useRef<string | null>(null);
  useEffect(
    () => () => {
      if (current.current) URL.revokeObjectURL(current.current);
    },
    [],
  );
  const file = FILES[format];
  const fetchIt = () =>
    action.run(async () => {
      const body = await fetchBlob(source, format, period);
      current.current = URL.createObjectURL(new Blob([body as unknown as Blob], { type: file.type }));
      setUrl(current.current);
    });
  if (url) {
    return (
      <a class="button button-small" href={url} download={`review.${file.ext}`}>
        Save {file.label}
      </a>
    );
  }
  return (
    <>
      <button type="button" class="button button-small" disabled={action.busy} onClick={() => void fetchIt()}>
        {action.busy ? "Preparing…" : file.label}
      </button>
      {action.problem && <ProblemNotice problem={action.problem} />}
    </>
  );
}

/** SaveJson saves the signed report shown (the evidence `baseplate review verify` checks). */
function SaveJson({ signed }: { signed: Signed }) {
  const [url, setUrl] = useState<string | null>(null);
  useEffect(() => {
    const made = URL.createObjectURL(new Blob([JSON.stringify(signed, null, 2)], { type: "application/json" }));
    setUrl(made);
    return () => URL.revokeObjectURL(made);
  }, [signed]);
  return url ? (
    <a class="button button-small" href={url} download="review.json">
      Save signed JSON
    </a>
  ) : null;
}
