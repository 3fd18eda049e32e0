import type { z } from "zod";
import { StreamedBody } from "../../platform/http/route.js";
import type { ModuleContext } from "../../platform/module.js";
import type { ActionContext } from "../../platform/principal.js";
import { PersonalFields } from "./internal/personal.js";
import type {
  Checkpoint,
  CreateCheckpointInput,
  ExportQuery,
  ListCheckpointsQuery,
  ListPlaneCheckpointsQuery,
  ListPlaneEntriesQuery,
  PlaneExportQuery,
} from "./schemas.js";
import { ChainLedger } from "./service/chains.js";
import { Checkpoints } from "./service/checkpoints.js";
import { Denials } from "./service/denials.js";
import { Entries } from "./service/entries.js";
import { type ChainScope, Exports } from "./service/exports.js";
import { Settings } from "./service/settings.js";
import type { AuditTables } from "./tables.js";
import type { VerificationResult } from "./verifier.js";

/** PLANE is the plane's own chain: no environment, no tenant. */
const PLANE: ChainScope = Object.freeze({ environmentId: null, tenantId: null });

/**
 * AuditService: the audit trail of an environment. Facts become entries through the fact sink;
 * products write their own; every chain is hash-linked and checkpointed with a signature.
 */
export class AuditService {
  /** context is the module's platform context (its manifest section guards and locks with it). */
  readonly context: ModuleContext;
  readonly chains: ChainLedger;
  readonly entries: Entries;
  readonly checkpoints: Checkpoints;
  readonly exports: Exports;
  readonly settings: Settings;
  readonly denials: Denials;
  readonly personal: PersonalFields;

  constructor(private readonly m: ModuleContext) {
    this.context = m;
    this.personal = new PersonalFields(m);
    this.chains = new ChainLedger(m, this.personal);
    this.entries = new Entries(m, this.chains, this.personal);
    this.checkpoints = new Checkpoints(m, this.chains);
    this.exports = new Exports(m, this.checkpoints);
    this.settings = new Settings(m);
    this.denials = new Denials(m);
  }

  /** createCheckpoint signs the caller's chain now (its tenant's, else its environment's), recording the fact first so the checkpoint covers it. */
  async createCheckpoint(ctx: ActionContext, input: z.infer<typeof CreateCheckpointInput>): Promise<Checkpoint> {
    const access = await this.chains.scope(ctx, "audit:manage", input.tenantId);
    return this.m.db.write(ctx, async (tx) => {
      const chain = this.exports.chainFor(access);
      await this.m.facts.record(tx, ctx, {
        type: "audit_checkpoint.created",
        environmentId: access.environmentId,
        tenantId: access.tenantId,
        targets: [{ type: "audit_chain", id: chain }],
      });
      return this.checkpoints.checkpointIn(tx, access.environmentId, access.tenantId);
    });
  }

  async listCheckpoints(ctx: ActionContext, query: z.infer<typeof ListCheckpointsQuery>) {
    const access = await this.chains.scope(ctx, "audit:read", query.tenantId);
    const chain = this.exports.chainFor(access);
    const page = await this.checkpoints.listCheckpoints(chain, query);
    return { chain, environmentId: access.environmentId, tenantId: access.tenantId, ...page };
  }

  async verifyChain(
    ctx: ActionContext,
    tenantId: string | undefined,
  ): Promise<VerificationResult & { environmentId: string; tenantId: string | null }> {
    const access = await this.chains.scope(ctx, "audit:read", tenantId);
    const result = await this.exports.verifyChain(access);
    return { ...result, environmentId: access.environmentId, tenantId: access.tenantId };
  }

  /**
   * listPlaneEntries pages the plane's own chain (projects, environments, surfaces, operators,
   * signing keys…): operators only (`audit:read`: admins and support).
   */
  async listPlaneEntries(ctx: ActionContext, query: z.infer<typeof ListPlaneEntriesQuery>) {
    this.m.access.operator(ctx, "audit:read");
    return this.entries.queryEntries(PLANE, query);
  }

  /** verifyPlaneChain verifies the plane's own chain server-side (operators only). */
  async verifyPlaneChain(ctx: ActionContext): Promise<VerificationResult & ChainScope> {
    this.m.access.operator(ctx, "audit:read");
    return { ...(await this.exports.verifyChain(PLANE)), ...PLANE };
  }

  /** listPlaneCheckpoints pages the plane chain's signed checkpoints, newest first (operators only). */
  async listPlaneCheckpoints(ctx: ActionContext, query: z.infer<typeof ListPlaneCheckpointsQuery>) {
    this.m.access.operator(ctx, "audit:read");
    const chain = this.exports.chainFor(PLANE);
    return { chain, ...PLANE, ...(await this.checkpoints.listCheckpoints(chain, query)) };
  }

  /**
   * exportPlaneChain streams the plane's own chain like `exportChain`, to every operator who may
   * read it (an export shows nothing the entries route does not).
   */
  async exportPlaneChain(ctx: ActionContext, query: z.infer<typeof PlaneExportQuery>): Promise<StreamedBody> {
    this.m.access.operator(ctx, "audit:read");
    return this.#export(PLANE, query.format);
  }

  /**
   * verifyAllChains verifies every chain stored (the plane's, each environment's and each
   * tenant's) against the plane's published keys, without a caller: for operators' tools on the
   * machine (a restored backup is checked with it). Results come in chain id order.
   */
  async verifyAllChains(): Promise<
    Array<VerificationResult & { environmentId: string | null; tenantId: string | null }>
  > {
    const chains = await this.m.db
      .tables<AuditTables>()
      .q()
      .selectFrom("audit_chain")
      .select(["id", "environment_id", "tenant_id"])
      .orderBy("id")
      .execute();
    const results = [];
    for (const c of chains) {
      const result = await this.exports.verifyChain({ environmentId: c.environment_id, tenantId: c.tenant_id });
      results.push({ ...result, environmentId: c.environment_id, tenantId: c.tenant_id });
    }
    return results;
  }

  /** exportChain streams the caller's chain as JSON Lines (verifiable offline) or CSV. */
  async exportChain(ctx: ActionContext, query: z.infer<typeof ExportQuery>): Promise<StreamedBody> {
    const access = await this.chains.scope(ctx, "audit:export", query.tenantId);
    return this.#export(access, query.format);
  }

  #export(access: ChainScope, format: "jsonl" | "csv"): StreamedBody {
    const chain = this.exports.chainFor(access);
    const name = `audit-${chain}-${this.m.clock.now()}.${format}`;
    const headers = { "content-disposition": `attachment; filename="${name}"` };
    return format === "csv"
      ? new StreamedBody("text/csv; charset=utf-8", this.exports.exportCsv(access), headers)
      : new StreamedBody("application/x-ndjson", this.exports.exportJsonLines(access), headers);
  }
}
