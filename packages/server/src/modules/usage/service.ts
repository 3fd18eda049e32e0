import type { z } from "zod";
import type { Tx } from "../../platform/db/db.js";
import type { ModuleContext } from "../../platform/module.js";
import type { ActionContext } from "../../platform/principal.js";
import type { TenancyService } from "../tenancy/index.js";
import type { Entitlement, IngestResult, SetEntitlementInput } from "./schemas.js";
import { EntitlementsService } from "./service/entitlements.js";
import { HoldsService } from "./service/holds.js";
import { IngestService, type ReportInput } from "./service/ingest.js";
import { LateUsageService } from "./service/late.js";
import { MetersService } from "./service/meters.js";
import { QueryService } from "./service/query.js";

/** UsageService: meters, ingestion, queries, entitlements and holds. */
export class UsageService {
  readonly meters: MetersService;
  readonly ingest: IngestService;
  readonly query: QueryService;
  readonly entitlements: EntitlementsService;
  readonly holds: HoldsService;
  /** late: usage by event time and received time (billing's late usage). */
  readonly late: LateUsageService;
  /** context is the module's platform context (its manifest section guards and locks with it). */
  readonly context: ModuleContext;

  constructor(m: ModuleContext, tenancy: TenancyService) {
    this.context = m;
    this.meters = new MetersService(m);
    this.ingest = new IngestService(m, tenancy);
    this.query = new QueryService(m, this.meters);
    this.entitlements = new EntitlementsService(m, this.meters, this.query, tenancy);
    this.holds = new HoldsService(m, this.entitlements, this.ingest);
    this.late = new LateUsageService(m);
    this.ingest.onCounted = (environmentId, tenantIds) => this.entitlements.forget(environmentId, tenantIds);
  }

  /**
   * report is how other modules meter what they measure (storage bytes, webhook deliveries, active
   * users) without reaching into this module: one event for a tenant, deduplicated on `id` like any
   * other. Pass the caller's `tx` so the usage commits with the change that caused it.
   */
  report(input: ReportInput, tx?: Tx): Promise<IngestResult> {
    return this.ingest.report(input, tx);
  }

  /**
   * applyEntitlements sets a tenant's entitlements inside the caller's `tx`, one `entitlement.set`
   * fact each, for a module that already authorized the change (billing applies a plan version's
   * grants in the transaction that starts or changes the subscription). Throws like
   * `setEntitlement`: an unknown meter (404), a meter that cannot be limited (422).
   */
  async applyEntitlements(
    tx: Tx,
    ctx: ActionContext,
    environmentId: string,
    tenantId: string,
    inputs: ReadonlyArray<z.infer<typeof SetEntitlementInput>>,
  ): Promise<Entitlement[]> {
    const out: Entitlement[] = [];
    for (const input of inputs) out.push(await this.entitlements.setIn(tx, ctx, environmentId, tenantId, input));
    return out;
  }
}
