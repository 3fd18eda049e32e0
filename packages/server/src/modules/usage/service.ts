import type { Tx } from "../../platform/db/db.js";
import type { ModuleContext } from "../../platform/module.js";
import type { TenancyService } from "../tenancy/index.js";
import type { IngestResult } from "./schemas.js";
import { EntitlementsService } from "./service/entitlements.js";
import { HoldsService } from "./service/holds.js";
import { IngestService, type ReportInput } from "./service/ingest.js";
import { MetersService } from "./service/meters.js";
import { QueryService } from "./service/query.js";

/** UsageService: meters, ingestion, queries, entitlements and holds. */
export class UsageService {
  readonly meters: MetersService;
  readonly ingest: IngestService;
  readonly query: QueryService;
  readonly entitlements: EntitlementsService;
  readonly holds: HoldsService;

  constructor(m: ModuleContext, tenancy: TenancyService) {
    this.meters = new MetersService(m);
    this.ingest = new IngestService(m, tenancy);
    this.query = new QueryService(m, this.meters);
    this.entitlements = new EntitlementsService(m, this.meters, this.query, tenancy);
    this.holds = new HoldsService(m, this.entitlements, this.ingest);
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
}
