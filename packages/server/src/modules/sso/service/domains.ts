import { randomBytes } from "node:crypto";
import type { z } from "zod";
import { isUniqueViolation, type Tx } from "../../../platform/db/db.js";
import { AppError } from "../../../platform/errors.js";
import { type PageQuery, pageById } from "../../../platform/http/pagination.js";
import type { ActionContext } from "../../../platform/principal.js";
import { SsoErrors } from "../errors.js";
import { newId } from "../ids.js";
import type { Core } from "../internal/core.js";
import { txtRecords } from "../internal/dns.js";
import { CHALLENGE_LABEL, toDomain } from "../internal/rows.js";
import type { CreateDomainInput, SsoDomain } from "../schemas.js";

/**
 * DomainsService: a tenant's claims on email domains. A claim is verified by a DNS TXT record
 * (`_baseplate-challenge.<domain>` = `baseplate-verification=<random>`); a domain is verified for
 * at most one tenant per environment (the first to verify). Verified domains route sign-in to the
 * tenant's IdP and let it link existing accounts of its addresses.
 */
export class DomainsService {
  constructor(private readonly c: Core) {}

  async createDomain(
    ctx: ActionContext,
    tenantId: string,
    input: z.infer<typeof CreateDomainInput>,
  ): Promise<SsoDomain> {
    const { environmentId } = await this.c.m.access.require(ctx, "sso:manage", { tenantId });
    try {
      return await this.c.m.db.write(ctx, async (tx) => {
        if (await this.verifiedOwner(environmentId, input.domain, tx)) {
          throw new AppError(SsoErrors.domain_taken, `${input.domain} is verified by another tenant.`);
        }
        const now = this.c.m.clock.now();
        const row = {
          id: newId("ssoDomain", now),
          environment_id: environmentId,
          tenant_id: tenantId,
          domain: input.domain,
          token: `baseplate-verification=${randomBytes(24).toString("base64url")}`,
          verified_key: null,
          verified_at: null,
          created_at: now,
          updated_at: now,
        };
        await this.c.tables.q(tx).insertInto("sso_domain").values(row).execute();
        await this.c.m.facts.record(tx, ctx, {
          type: "sso_domain.created",
          environmentId,
          tenantId,
          targets: [{ type: "sso_domain", id: row.id }],
          data: { domain: row.domain },
        });
        return toDomain(row);
      });
    } catch (err) {
      if (isUniqueViolation(err)) {
        throw new AppError(SsoErrors.domain_taken, `The tenant already claimed ${input.domain}.`);
      }
      throw err;
    }
  }

  async listDomains(ctx: ActionContext, tenantId: string, query: PageQuery) {
    const { environmentId } = await this.c.m.access.require(ctx, "sso:read", { tenantId });
    return pageById(
      this.c.tables
        .q()
        .selectFrom("sso_domain")
        .selectAll()
        .where("environment_id", "=", environmentId)
        .where("tenant_id", "=", tenantId),
      query,
      toDomain,
    );
  }

  async findDomainById(ctx: ActionContext, tenantId: string, id: string): Promise<SsoDomain> {
    const { environmentId } = await this.c.m.access.require(ctx, "sso:read", { tenantId });
    return toDomain(await this.#row(environmentId, tenantId, id));
  }

  /**
   * verifyDomain looks the claim's TXT record up (resolvers: `BASEPLATE_DNS_SERVERS`) and marks
   * the domain verified. Throws 422 `domain_verification_failed` when no record carries the value,
   * 409 `domain_taken` when another tenant of the environment verified it first. Verifying a
   * verified domain answers it as it is.
   */
  async verifyDomain(ctx: ActionContext, tenantId: string, id: string): Promise<SsoDomain> {
    const { environmentId } = await this.c.m.access.require(ctx, "sso:manage", { tenantId });
    const claim = await this.#row(environmentId, tenantId, id);
    if (claim.verified_at !== null) return toDomain(claim);
    const name = `${CHALLENGE_LABEL}.${claim.domain}`;
    const records = await txtRecords(name, this.c.m.config.dnsServers);
    if (!records.includes(claim.token)) {
      throw new AppError(
        SsoErrors.domain_verification_failed,
        `No TXT record of ${name} carries the value ${claim.token}; publish it and try again (DNS changes may take a while).`,
      );
    }
    try {
      return await this.c.m.db.write(ctx, async (tx) => {
        const now = this.c.m.clock.now();
        const updated = await this.c.tables
          .q(tx)
          .updateTable("sso_domain")
          .set({ verified_key: `${environmentId}:${claim.domain}`, verified_at: now, updated_at: now })
          .where("id", "=", id)
          .where("environment_id", "=", environmentId)
          .where("tenant_id", "=", tenantId)
          .where("verified_at", "is", null)
          .executeTakeFirst();
        const row = await this.#row(environmentId, tenantId, id, tx);
        if (Number(updated.numUpdatedRows) !== 1) return toDomain(row);
        await this.c.m.facts.record(tx, ctx, {
          type: "sso_domain.verified",
          environmentId,
          tenantId,
          targets: [{ type: "sso_domain", id }],
          data: { domain: row.domain },
        });
        return toDomain(row);
      });
    } catch (err) {
      if (isUniqueViolation(err)) {
        throw new AppError(SsoErrors.domain_taken, `${claim.domain} is verified by another tenant.`);
      }
      throw err;
    }
  }

  async deleteDomain(ctx: ActionContext, tenantId: string, id: string): Promise<SsoDomain> {
    const { environmentId } = await this.c.m.access.require(ctx, "sso:manage", { tenantId });
    return this.c.m.db.write(ctx, async (tx) => {
      const row = await this.#row(environmentId, tenantId, id, tx, true);
      await this.c.tables.q(tx).deleteFrom("sso_domain").where("id", "=", id).execute();
      await this.c.m.facts.record(tx, ctx, {
        type: "sso_domain.deleted",
        environmentId,
        tenantId,
        targets: [{ type: "sso_domain", id }],
        data: { domain: row.domain, wasVerified: row.verified_at !== null },
      });
      return toDomain(row);
    });
  }

  /** verifiedOwner answers the tenant that verified `domain` in the environment, or null. */
  async verifiedOwner(environmentId: string, domain: string, tx?: Tx): Promise<string | null> {
    const row = await this.c.tables
      .q(tx)
      .selectFrom("sso_domain")
      .select("tenant_id")
      .where("verified_key", "=", `${environmentId}:${domain.toLowerCase()}`)
      .executeTakeFirst();
    return row?.tenant_id ?? null;
  }

  async #row(environmentId: string, tenantId: string, id: string, tx?: Tx, lock = false) {
    const row = await this.c.tables
      .q(tx)
      .selectFrom("sso_domain")
      .selectAll()
      .where("environment_id", "=", environmentId)
      .where("tenant_id", "=", tenantId)
      .where("id", "=", id)
      .$if(lock, (qb) => this.c.m.db.forUpdate(qb))
      .executeTakeFirst();
    if (!row) throw new AppError(SsoErrors.domain_not_found, `No domain ${id} in this tenant.`);
    return row;
  }
}
