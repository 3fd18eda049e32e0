import { beforeCommit, type Tx } from "../../../platform/db/db.js";
import type { ActionContext } from "../../../platform/principal.js";
import type { Core } from "./core.js";

/**
 * voidInvitationsIssuedBy revokes, in `tx`, the pending invitations that the given keys (agent keys
 * or tenant keys) issued, each with its `invitation.revoked` fact. Every transaction that ends a key
 * calls it, so an invitation never outlives the key that issued it: acceptance claims the
 * invitation with a conditional update, so of a revocation and an acceptance racing, the one that
 * commits first wins and the other sees its result (docs/security.md, "Delegation never outlives
 * its delegator").
 * NOTE: it runs just before `tx` commits, after the transaction's own fact: an event append locks
 * the environment's event sequence, and acceptance takes that lock before the invitation's row, so
 * every writer takes them in that order.
 */
export function voidInvitationsIssuedBy(
  c: Core,
  tx: Tx,
  ctx: ActionContext,
  environmentId: string,
  issuers: readonly string[],
  now: number,
): void {
  if (issuers.length === 0) return;
  beforeCommit(tx, async () => {
    const voided = await c.tables
      .q(tx)
      .updateTable("invitation")
      .set({ revoked_at: now })
      .where("environment_id", "=", environmentId)
      .where("invited_by", "in", [...issuers])
      .where("accepted_at", "is", null)
      .where("revoked_at", "is", null)
      .returning(["id", "tenant_id", "email", "invited_by"])
      .execute();
    for (const v of voided) {
      await c.m.facts.record(tx, ctx, {
        type: "invitation.revoked",
        environmentId,
        tenantId: v.tenant_id,
        targets: [{ type: "invitation", id: v.id }],
        data: { email: v.email, issuerEnded: v.invited_by },
      });
    }
  });
}
