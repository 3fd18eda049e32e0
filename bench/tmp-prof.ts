import { auditFormat, verifyExportLines } from "../packages/server/src/modules/audit/index.js";

const ENV = "env_bench";
const entries: auditFormat.AuditEntryRecord[] = [];
let prev = auditFormat.GENESIS_HASH;
for (let seq = 1; seq <= 100000; seq++) {
  const body: any = {
    v: 1,
    id: `aud_01KBXXXXXXXXXXXXXXXXX${seq}`,
    chain: ENV,
    seq,
    environmentId: ENV,
    tenantId: null,
    action: "tenant.updated",
    occurredAt: Date.now(),
    actor: { type: "service", id: "key_bench", displayName: null, model: null, onBehalfOf: null },
    targets: [{ type: "tenant", id: "ten_bench" }],
    context: { ip: "10.0.0.1", userAgent: "bench", surfaceId: "srf_bench", requestId: `req_${seq}` },
    metadata: { name: "Acme", plan: "gold", seats: 12 },
    changes: { before: { name: "Acme Inc" }, after: { name: "Acme" } },
    source: "fact",
    factId: `fct_${seq}`,
    prevHash: prev,
  };
  const e = { ...body, hash: auditFormat.entryHash(body) };
  entries.push(e);
  prev = e.hash;
}
const lines = [
  JSON.stringify({
    type: "header",
    format: auditFormat.FORMAT,
    version: 1,
    chain: ENV,
    environmentId: ENV,
    tenantId: null,
    exportedAt: 1,
    anchor: { size: 0, headHash: auditFormat.GENESIS_HASH },
  }),
  ...entries.map((e) => auditFormat.entryLine(e)),
];
for (let i = 0; i < 3; i++) {
  const s = performance.now();
  const r = await verifyExportLines(lines, new Map());
  console.log(r.ok, r.entries, (((performance.now() - s) * 1000) / 100000).toFixed(2), "us/entry");
}
const s = performance.now();
for (const l of lines) JSON.parse(l);
console.log("parse only", (((performance.now() - s) * 10) / 1000).toFixed(2));
