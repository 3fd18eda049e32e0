import { OPERATOR_TENANT_PERMISSIONS } from "../../platform/access.js";
import type { ModuleContext } from "../../platform/module.js";
import type { Principal } from "../../platform/principal.js";
import { type ReviewPart, type ReviewScope, reviewTable } from "../../platform/review.js";
import type { TenancyService } from "../tenancy/index.js";

const PROBE = "review-self-test";

/**
 * scopingSelfTest runs the isolation probe suite against the live plane: the access check every
 * route goes through (`access.require`, with the live tenant, membership and support-access
 * lookups) is asked, for every permission the plane declares, whether a credential bound to one
 * tenant may act in another, a user who is not a member may act in a tenant, an environment's key
 * may act in another environment's tenant, and an operator may act inside a tenant without support
 * access. Each must be refused; a tenant key acting in its own tenant must be allowed (the control
 * that shows the probes can pass). Nothing is written: the checks only decide.
 */
export async function scopingSelfTest(
  m: ModuleContext,
  tenancy: TenancyService,
  scope: ReviewScope,
): Promise<ReviewPart> {
  const permissions = [
    ...new Set(
      m.permissions.flatMap((d) =>
        Object.entries(d.statements).flatMap(([r, actions]) => actions.map((a) => `${r}:${a}`)),
      ),
    ),
  ].sort();
  const own = scope.tenantId ?? (await tenancy.tenants.sampleTenantIds(scope.environmentId, 1))[0] ?? null;
  const neighbours = (await tenancy.tenants.sampleTenantIds(scope.environmentId, 2)).filter((t) => t !== own);
  const other = neighbours[0] ?? null;
  const foreign = (await tenancy.tenants.sampleTenantIds(scope.environmentId, 1, true))[0] ?? null;
  const base = { credentialId: PROBE, environmentId: scope.environmentId, permissions: ["*"] };
  const families: Array<{
    name: string;
    principal: Principal;
    tenant: string | null;
    expect: "refused" | "allowed";
    skip?: (p: string) => boolean;
  }> = [];
  if (own && other) {
    families.push(
      {
        name: "a tenant key of tenant A, in tenant B",
        principal: { ...base, actorType: "tenant_key", actorId: PROBE, tenantId: own },
        tenant: other,
        expect: "refused",
      },
      {
        name: "an agent key of tenant A, in tenant B",
        principal: { ...base, actorType: "agent", actorId: PROBE, tenantId: own },
        tenant: other,
        expect: "refused",
      },
    );
  }
  if (own) {
    families.push(
      {
        name: "a user who is not a member, in tenant A",
        principal: { ...base, actorType: "user", actorId: `usr_${PROBE}`, permissions: [] },
        tenant: own,
        expect: "refused",
      },
      {
        name: "an operator without support access, in tenant A",
        principal: { ...base, actorType: "operator", actorId: `opr_${PROBE}` },
        tenant: own,
        expect: "refused",
        skip: (p) => OPERATOR_TENANT_PERMISSIONS.has(p),
      },
      {
        name: "a tenant key of tenant A, in tenant A (control)",
        principal: { ...base, actorType: "tenant_key", actorId: PROBE, tenantId: own },
        tenant: own,
        expect: "allowed",
      },
    );
  }
  if (foreign) {
    families.push({
      name: "this environment's secret key, in another environment's tenant",
      principal: { ...base, actorType: "service", actorId: PROBE },
      tenant: foreign,
      expect: "refused",
    });
  }
  const rows: Array<[string, number, number, number]> = [];
  const failures: string[] = [];
  let probes = 0;
  for (const f of families) {
    let refused = 0;
    let allowed = 0;
    for (const permission of permissions) {
      if (f.skip?.(permission)) continue;
      const decision = await m.access.decide(f.principal, permission, f.tenant);
      probes++;
      if (typeof decision === "string") refused++;
      else allowed++;
      const ok = (typeof decision === "string") === (f.expect === "refused");
      if (!ok && failures.length < 20)
        failures.push(
          `${f.name}: ${permission} was ${typeof decision === "string" ? `refused (${decision})` : "allowed"}`,
        );
    }
    rows.push([
      f.name,
      f.expect === "refused" ? refused : allowed,
      f.expect === "refused" ? allowed : refused,
      refused + allowed,
    ]);
  }
  const failed = rows.reduce((n, r) => n + r[2], 0);
  const skipped: string[] = [];
  if (!own || !other) skipped.push("tenant to tenant (the environment needs two active tenants)");
  if (!foreign) skipped.push("environment to environment (the plane has no other environment with an active tenant)");
  return {
    title: "How tenant isolation is enforced, and a self-test",
    blocks: [
      {
        kind: "text",
        text:
          "Every table holding customer data carries its environment (and tenant) id, and every query is scoped by the caller's environment. " +
          "Credentials bound to a tenant (tenant keys, agent keys, portal sessions) can only act in it; users act only in tenants they are members of, " +
          "with their roles' permissions capped by their surface's ceiling; operators act inside a tenant only under time-boxed support access the tenant can see. " +
          "Another tenant's or environment's object answers 404, never 403, so existence does not leak. " +
          "The project's test suite replays every route with other tenants' and environments' credentials on both database engines.",
      },
      {
        kind: "check",
        label: "Cross-tenant probe suite",
        ok: failed === 0 && families.length > 0,
        detail:
          families.length === 0
            ? "not run: the environment has no active tenant to probe"
            : `${probes} probes over ${permissions.length} permissions: ${probes - failed} answered as required, ${failed} did not.`,
      },
      reviewTable("Probes by kind of caller", ["Caller, where", "As required", "Not as required", "Probes"], rows),
      ...(failures.length > 0
        ? [
            reviewTable(
              "Probes that did not answer as required",
              ["Probe"],
              failures.map((f) => [f]),
            ),
          ]
        : []),
      ...(skipped.length > 0 ? [{ kind: "text" as const, text: `Not probed: ${skipped.join("; ")}.` }] : []),
    ],
    figures: { "selfTest.probes": probes, "selfTest.failed": failed, "selfTest.permissions": permissions.length },
  };
}
