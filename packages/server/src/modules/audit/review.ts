import { createHash } from "node:crypto";
import { type ReviewContributor, type ReviewValue, reviewTable } from "../../platform/review.js";
import type { AuditService } from "./service.js";
import type { AuditTables } from "./tables.js";

/** MAX_VERIFIED: chains a report verifies itself (the rest: `baseplate audit verify`). */
const MAX_VERIFIED = 50;
/** ENTRY_BUDGET: entries a report reads to verify chains; a chain that would pass it is left to the CLI. */
const ENTRY_BUDGET = 250_000;

/**
 * The audit module's part of the review report: every chain of the scope verified now (hash links,
 * signed checkpoints), retention, the signing keys' fingerprints, and how to verify offline.
 */
export function auditReview(service: AuditService): ReviewContributor[] {
  return [
    {
      name: "audit.chains",
      topic: "audit",
      async collect(scope, _ctx) {
        const db = service.context.db.tables<AuditTables>();
        const chains = await db
          .q()
          .selectFrom("audit_chain")
          .select(["id", "environment_id", "tenant_id"])
          .where("environment_id", "=", scope.environmentId)
          .$if(scope.tenantId !== null, (qb) => qb.where("tenant_id", "=", scope.tenantId as string))
          .orderBy("tenant_id", "desc")
          .orderBy("id")
          .execute();
        // The environment's own chain first (its tenant id is null), then its tenants'.
        chains.sort((a, b) => (a.tenant_id === null ? -1 : b.tenant_id === null ? 1 : a.id < b.id ? -1 : 1));
        const verified: typeof chains = [];
        let budget = ENTRY_BUDGET;
        for (const c of chains) {
          if (verified.length >= MAX_VERIFIED) break;
          const size = (await service.chains.readHead(c.id))?.size ?? 0;
          if (size > budget) continue;
          budget -= size;
          verified.push(c);
        }
        const rows: ReviewValue[][] = [];
        let failed = 0;
        for (const c of verified) {
          const r = await service.exports.verifyChain({
            environmentId: c.environment_id as string,
            tenantId: c.tenant_id,
          });
          if (!r.ok) failed++;
          rows.push([
            c.tenant_id ? `tenant ${c.tenant_id}` : "environment",
            r.entries,
            r.ok,
            r.lastCheckpointSize,
            r.uncheckpointed,
            r.errors[0]?.message ?? null,
          ]);
        }
        const settings = await service.settings.readSettings(scope.environmentId);
        const keys = (await service.checkpoints.listPublicKeys()).keys;
        return {
          title: "Audit chains, verified now",
          blocks: [
            {
              kind: "text",
              text:
                "Every change the plane makes records a fact in the same transaction; the audit module turns it into an entry appended to a hash-linked chain " +
                "(one per environment and one per tenant, each entry holding the SHA-256 of its predecessor). Chain heads are signed hourly with the plane's Ed25519 key (checkpoints), " +
                "so a rewritten or truncated history fails verification. Exports (JSON Lines) verify offline with the published public keys: `baseplate audit verify export.jsonl --public-key key.pem`.",
            },
            {
              kind: "check",
              label: "Chain verification",
              ok: failed === 0,
              detail:
                `${verified.length - failed} of ${verified.length} chain(s) verified now` +
                (chains.length > verified.length
                  ? `; ${chains.length - verified.length} more not verified here (run \`baseplate audit verify\`)`
                  : "") +
                (failed > 0 ? `; ${failed} failed` : "") +
                ".",
            },
            reviewTable(
              "Chains",
              ["Chain", "Entries", "Verified", "Last checkpoint at", "Not yet checkpointed", "First problem"],
              rows,
            ),
            {
              kind: "facts",
              items: [
                {
                  label: "Retention",
                  value: settings.retentionDays === null ? "forever" : `${settings.retentionDays} days`,
                },
                { label: "Signing keys published", value: keys.length },
              ],
            },
            reviewTable(
              "Signing keys (public halves at GET /v1/audit/public-keys)",
              ["Key", "Status", "Since", "SHA-256 of the public key (PEM)"],
              keys.map((k) => [k.keyId, k.status, k.createdAt, createHash("sha256").update(k.publicKey).digest("hex")]),
            ),
          ],
          figures: {
            "chains.count": chains.length,
            "chains.verified": verified.length - failed,
            "chains.failed": failed,
            "retention.days": settings.retentionDays,
            "keys.count": keys.length,
          },
        };
      },
    },
  ];
}
