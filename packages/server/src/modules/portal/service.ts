import { OwnedCache } from "../../platform/cache.js";
import { CredentialLookups } from "../../platform/credential-lookup.js";
import { generateToken, parseToken, sha256Hex } from "../../platform/crypto.js";
import { fromJson, type Tx, type TypedDb, toJson } from "../../platform/db/index.js";
import { AppError } from "../../platform/errors.js";
import { iso, isoOrNull } from "../../platform/http/schemas.js";
import { LastUsedTracker } from "../../platform/last-used.js";
import type { ModuleContext } from "../../platform/module.js";
import type { ActionContext, ActorType, Principal } from "../../platform/principal.js";
import { type Surface, TENANT_TOPIC, TenancyErrors, type TenancyService } from "../tenancy/index.js";
import { PortalErrors } from "./errors.js";
import { newId, TOKEN_PREFIX } from "./ids.js";
import {
  type CreatePortalLinkInput,
  PORTAL_FEATURES,
  type PortalContext,
  type PortalFeature,
  type PortalLink,
  type PortalSession,
  type PortalTheme,
  type SetPortalThemeInput,
} from "./schemas.js";
import type { PortalSessionTable, PortalTables } from "./tables.js";

/** PRUNE_AFTER_MS: how long an ended link or session is kept (see `prune`). */
const PRUNE_AFTER_MS = 86_400_000;

/** PRUNE_JOB: the scheduled job that deletes ended links and sessions. */
export const PRUNE_JOB = "portal.prune";

/** PORTAL_TOPIC: the change-bus topic on which a portal session's id is published when it is revoked. */
export const PORTAL_TOPIC = "portal";

/**
 * FEATURE_PERMISSIONS: what each section of the portal lets the admin do in the tenant. Every
 * session also reads its own tenant (`tenants:read`: the portal's header).
 */
export const FEATURE_PERMISSIONS: Readonly<Record<PortalFeature, readonly string[]>> = {
  webhooks: ["webhooks:*"],
  audit: ["audit:read", "audit:export"],
  keys: ["keys:*"],
  members: ["members:*", "roles:read"],
  usage: ["usage:read", "entitlements:read"],
  billing: ["billing:read"],
  // Operators' support access to the tenant: see it, approve or deny it, revoke it, set the policy.
  support: ["support_access:read", "support_access:approve"],
  // The tenant's own review report (docs/review.md): for the customer's security reviewer.
  review: ["review:read"],
};

/** portalPermissions: the permissions a session with these features holds. */
export function portalPermissions(features: readonly PortalFeature[]): string[] {
  return ["tenants:read", ...features.flatMap((f) => FEATURE_PERMISSIONS[f])];
}

/**
 * PortalService: the tenant portal. A product's backend mints a one-time link for one tenant's admin
 * (environment credentials); the portal page exchanges it, once, for a short-lived session whose
 * principal (`actorType: "portal"`) is bound to that tenant, so the plane's access check confines it
 * there (another tenant's object answers 404) with the permissions its features imply. Everything
 * the session does is audited as the session, naming the admin the product vouched for and the
 * credential that minted the link. Sessions expire (≤ 1 h), can be revoked, and act read-only while
 * the tenant is suspended (as tenant keys do).
 */
export class PortalService {
  readonly #db: TypedDb<PortalTables>;
  readonly #lookups: CredentialLookups;
  readonly lastUsed: LastUsedTracker;

  constructor(
    private readonly m: ModuleContext,
    private readonly tenancy: TenancyService,
  ) {
    this.#db = m.db.tables<PortalTables>();
    this.lastUsed = new LastUsedTracker(
      (_table, rows) => this.#writeLastUsed(rows),
      (err) => m.logger.warn({ err }, "could not record lastUsedAt"),
    );
    const cache = new OwnedCache<Principal>(m.bus, [PORTAL_TOPIC, TENANT_TOPIC, "credentials"]);
    this.#lookups = new CredentialLookups(cache, this.lastUsed, m.clock);
  }

  /** createLink mints a portal link for `tenantId` (the token is shown once; stored hashed). */
  async createLink(ctx: ActionContext, tenantId: string, input: CreatePortalLinkInput): Promise<PortalLink> {
    const { environmentId, principal } = await this.m.access.require(ctx, "portal_links:create", { tenantId });
    const surfaceId = input.surfaceId ?? principal.surfaceId;
    if (!surfaceId) {
      throw new AppError(
        PortalErrors.portal_surface_required,
        "This credential belongs to no surface: name the portal's surface (surfaceId).",
      );
    }
    await this.#surfaceIn(environmentId, surfaceId);
    const features = normalizeFeatures(input.features);
    const token = generateToken(TOKEN_PREFIX.link);
    const id = newId("portalLink");
    return this.m.db.write(ctx, async (tx) => {
      const now = this.m.clock.now();
      const expiresAt = now + input.expiresInSeconds * 1000;
      const actor = { email: input.actor?.email ?? null, name: input.actor?.name ?? null };
      await this.#db
        .q(tx)
        .insertInto("portal_link")
        .values({
          id,
          environment_id: environmentId,
          tenant_id: tenantId,
          surface_id: surfaceId,
          token_hash: sha256Hex(token),
          features: toJson(features),
          return_url: input.returnUrl ?? null,
          actor_email: actor.email,
          actor_name: actor.name,
          session_ttl_ms: input.sessionExpiresInSeconds * 1000,
          created_by_type: principal.actorType,
          created_by_id: principal.actorId,
          created_at: now,
          expires_at: expiresAt,
          used_at: null,
          session_id: null,
        })
        .execute();
      await this.m.facts.record(tx, ctx, {
        type: "portal_link.created",
        environmentId,
        tenantId,
        targets: [{ type: "portal_link", id }],
        data: { surfaceId, features, actor, returnUrl: input.returnUrl ?? null, expiresAt: iso(expiresAt) },
      });
      return {
        id,
        tenantId,
        surfaceId,
        url: `${this.m.config.publicUrl}/portal#token=${token}`,
        token,
        features,
        returnUrl: input.returnUrl ?? null,
        actor,
        expiresAt: iso(expiresAt),
        createdAt: iso(now),
      };
    });
  }

  /**
   * startSession exchanges a live, unused link for a portal session. The link is spent by a
   * conditional update whose row count decides, so of any number of racing exchanges exactly one
   * opens a session. Throws 401 `portal_link_invalid` for an unknown, spent or expired link, and
   * for one whose tenant or surface is gone.
   */
  async startSession(ctx: ActionContext, token: string): Promise<PortalSession> {
    const invalid = (detail: string) => new AppError(PortalErrors.portal_link_invalid, detail);
    if (!parseToken(token, [TOKEN_PREFIX.link])) throw invalid("This is not a portal link's token.");
    const hash = sha256Hex(token);
    const link = await this.#db
      .q()
      .selectFrom("portal_link")
      .selectAll()
      .where("token_hash", "=", hash)
      .executeTakeFirst();
    if (!link) throw invalid("This portal link is unknown.");
    const now = this.m.clock.now();
    if (link.used_at !== null) throw invalid("This portal link was already used: ask the product for a new one.");
    if (link.expires_at <= now) throw invalid("This portal link expired: ask the product for a new one.");
    const surface = await this.tenancy.surfaces.findActiveSurface(link.surface_id);
    const state = await this.tenancy.tenants.tenantState(link.environment_id, link.tenant_id);
    if (!surface || surface.environmentId !== link.environment_id || !state) {
      throw invalid("The tenant or surface of this portal link is gone.");
    }
    const sessionToken = generateToken(TOKEN_PREFIX.session);
    const id = newId("portalSession");
    const expiresAt = Math.min(now + Number(link.session_ttl_ms), now + 3_600_000);
    const row: PortalSessionTable = {
      id,
      environment_id: link.environment_id,
      tenant_id: link.tenant_id,
      surface_id: link.surface_id,
      link_id: link.id,
      token_hash: sha256Hex(sessionToken),
      features: toJson(fromJson<PortalFeature[]>(link.features)),
      return_url: link.return_url,
      actor_email: link.actor_email,
      actor_name: link.actor_name,
      created_by_type: link.created_by_type,
      created_by_id: link.created_by_id,
      created_at: now,
      expires_at: expiresAt,
      revoked_at: null,
      last_used_at: null,
    };
    const asSession = { ...ctx, principal: sessionPrincipal(row, surface) };
    return this.m.db.write(ctx, async (tx) => {
      const spent = await this.#db
        .q(tx)
        .updateTable("portal_link")
        .set({ used_at: now, session_id: id })
        .where("id", "=", link.id)
        .where("used_at", "is", null)
        .where("expires_at", ">", now)
        .executeTakeFirst();
      if (Number(spent.numUpdatedRows) !== 1) {
        throw invalid("This portal link was already used: ask the product for a new one.");
      }
      await this.#db.q(tx).insertInto("portal_session").values(row).execute();
      await this.m.facts.record(tx, asSession, {
        type: "portal_session.started",
        environmentId: row.environment_id,
        tenantId: row.tenant_id,
        targets: [
          { type: "portal_session", id },
          { type: "portal_link", id: link.id },
        ],
        data: {
          features: fromJson<PortalFeature[]>(row.features),
          actor: { email: row.actor_email, name: row.actor_name },
          expiresAt: iso(expiresAt),
        },
      });
      return { id, token: sessionToken, tenantId: row.tenant_id, expiresAt: iso(expiresAt) };
    });
  }

  /** resolveSession turns a portal session's bearer token into its tenant-bound principal (cached, like keys). */
  resolveSession(token: string): Promise<Principal | null> {
    return this.#lookups.resolve(token, {
      table: "portal_session",
      find: (hash) =>
        this.#db.q().selectFrom("portal_session").selectAll().where("token_hash", "=", hash).executeTakeFirst(),
      accept: async (row, now) => {
        if (row.revoked_at !== null || row.expires_at <= now) return null;
        const surface = await this.tenancy.surfaces.findActiveSurface(row.surface_id);
        if (!surface || surface.environmentId !== row.environment_id) return null;
        return {
          principal: sessionPrincipal(row, surface),
          validUntil: row.expires_at,
          owners: [row.id, row.tenant_id, row.surface_id, row.environment_id],
        };
      },
    });
  }

  /** context is what the portal page draws: its tenant, sections, theme and return link. */
  async context(ctx: ActionContext): Promise<PortalContext> {
    const row = await this.#currentSession(ctx);
    let name = row.tenant_id;
    try {
      name = (await this.tenancy.tenants.findTenantById(ctx, row.tenant_id)).name;
    } catch (err) {
      // A surface whose ceiling withholds `tenants:read` still gets its portal, named by id.
      if (!(err instanceof AppError)) throw err;
    }
    return {
      sessionId: row.id,
      environmentId: row.environment_id,
      tenant: { id: row.tenant_id, name },
      features: fromJson<PortalFeature[]>(row.features),
      permissions: portalPermissions(fromJson<PortalFeature[]>(row.features)),
      actor: { email: row.actor_email, name: row.actor_name },
      theme: await this.#theme(row.environment_id, row.surface_id),
      returnUrl: row.return_url,
      expiresAt: iso(row.expires_at),
    };
  }

  /** revokeCurrentSession ends the calling portal session (signing out); every process drops it. */
  async revokeCurrentSession(ctx: ActionContext): Promise<{ id: string; revokedAt: string }> {
    const row = await this.#currentSession(ctx);
    return this.m.db.write(ctx, async (tx) => {
      const now = this.m.clock.now();
      const done = await this.#db
        .q(tx)
        .updateTable("portal_session")
        .set({ revoked_at: now })
        .where("id", "=", row.id)
        .where("revoked_at", "is", null)
        .executeTakeFirst();
      if (Number(done.numUpdatedRows) !== 1) {
        throw new AppError(PortalErrors.portal_session_not_found, "This portal session is already revoked.");
      }
      await this.m.facts.record(tx, ctx, {
        type: "portal_session.revoked",
        environmentId: row.environment_id,
        tenantId: row.tenant_id,
        targets: [{ type: "portal_session", id: row.id }],
      });
      await this.m.bus.publish(tx, PORTAL_TOPIC, row.id);
      return { id: row.id, revokedAt: iso(now) };
    });
  }

  /** getTheme reads a surface's portal theme (environment credentials). */
  async getTheme(ctx: ActionContext, surfaceId: string): Promise<PortalTheme> {
    const { environmentId } = this.m.access.environment(ctx, "portal_themes:read");
    await this.#surfaceIn(environmentId, surfaceId);
    return this.#theme(environmentId, surfaceId);
  }

  /** setTheme replaces a surface's portal theme (fields left out are cleared). */
  async setTheme(ctx: ActionContext, surfaceId: string, input: SetPortalThemeInput): Promise<PortalTheme> {
    const { environmentId } = this.m.access.environment(ctx, "portal_themes:write");
    await this.#surfaceIn(environmentId, surfaceId);
    return this.m.db.write(ctx, async (tx) => {
      const now = this.m.clock.now();
      const before = await this.#theme(environmentId, surfaceId, tx);
      const values = {
        name: input.name ?? null,
        logo_url: input.logoUrl ?? null,
        primary_color: input.primaryColor ?? null,
        accent_color: input.accentColor ?? null,
        updated_at: now,
      };
      await this.#db
        .q(tx)
        .insertInto("portal_theme")
        .values({ environment_id: environmentId, surface_id: surfaceId, created_at: now, ...values })
        .onConflict((oc) => oc.columns(["environment_id", "surface_id"]).doUpdateSet(values))
        .execute();
      const after: PortalTheme = {
        surfaceId,
        name: values.name,
        logoUrl: values.logo_url,
        primaryColor: values.primary_color,
        accentColor: values.accent_color,
        updatedAt: iso(now),
      };
      await this.m.facts.record(tx, ctx, {
        type: "portal_theme.updated",
        environmentId,
        targets: [{ type: "surface", id: surfaceId }],
        changes: { before: themeFields(before), after: themeFields(after) },
      });
      return after;
    });
  }

  /**
   * prune deletes links and sessions that ended more than a day ago (they open nothing any more; what
   * they did stays in the audit log). Returns how many rows of each went.
   */
  async prune(): Promise<{ links: number; sessions: number }> {
    const before = this.m.clock.now() - PRUNE_AFTER_MS;
    const links = await this.#db.q().deleteFrom("portal_link").where("expires_at", "<", before).executeTakeFirst();
    const sessions = await this.#db
      .q()
      .deleteFrom("portal_session")
      .where("expires_at", "<", before)
      .executeTakeFirst();
    return { links: Number(links.numDeletedRows), sessions: Number(sessions.numDeletedRows) };
  }

  /** flushLastUsed writes the batched `last_used_at` values now. */
  flushLastUsed(): Promise<void> {
    return this.lastUsed.flush();
  }

  async #currentSession(ctx: ActionContext) {
    const p = ctx.principal;
    const row =
      p?.actorType === "portal" && p.environmentId
        ? await this.#db
            .q()
            .selectFrom("portal_session")
            .selectAll()
            .where("environment_id", "=", p.environmentId)
            .where("id", "=", p.credentialId)
            .executeTakeFirst()
        : undefined;
    if (!row) throw new AppError(PortalErrors.portal_session_not_found, "No portal session calls.");
    return row;
  }

  async #surfaceIn(environmentId: string, surfaceId: string): Promise<Surface> {
    const surface = await this.tenancy.surfaces.findActiveSurface(surfaceId);
    if (!surface || surface.environmentId !== environmentId) {
      throw new AppError(TenancyErrors.surface_not_found, `No surface ${surfaceId} in this environment.`);
    }
    return surface;
  }

  async #theme(environmentId: string, surfaceId: string, tx?: Tx): Promise<PortalTheme> {
    const row = await this.#db
      .q(tx)
      .selectFrom("portal_theme")
      .selectAll()
      .where("environment_id", "=", environmentId)
      .where("surface_id", "=", surfaceId)
      .executeTakeFirst();
    return {
      surfaceId,
      name: row?.name ?? null,
      logoUrl: row?.logo_url ?? null,
      primaryColor: row?.primary_color ?? null,
      accentColor: row?.accent_color ?? null,
      updatedAt: isoOrNull(row?.updated_at),
    };
  }

  async #writeLastUsed(rows: Array<{ id: string; at: number }>): Promise<void> {
    await this.m.db.transaction(async (tx) => {
      for (const { id, at } of rows) {
        await this.#db.q(tx).updateTable("portal_session").set({ last_used_at: at }).where("id", "=", id).execute();
      }
    });
  }
}

/** normalizeFeatures: the requested sections in the portal's order, without repeats (all when none). */
function normalizeFeatures(requested: readonly PortalFeature[] | undefined): PortalFeature[] {
  return PORTAL_FEATURES.filter((f) => !requested || requested.includes(f));
}

function themeFields(t: PortalTheme) {
  return { name: t.name, logoUrl: t.logoUrl, primaryColor: t.primaryColor, accentColor: t.accentColor };
}

/**
 * sessionPrincipal: a portal session acts as itself (`portal`, its id), bound to its tenant and
 * surface, named after the admin the product vouched for, on behalf of the credential that minted
 * its link.
 */
function sessionPrincipal(row: PortalSessionTable, surface: Surface): Principal {
  const features = fromJson<PortalFeature[]>(row.features);
  const admin = [row.actor_name, row.actor_email ? `<${row.actor_email}>` : null].filter(Boolean).join(" ");
  return {
    actorType: "portal",
    actorId: row.id,
    credentialId: row.id,
    environmentId: row.environment_id,
    surfaceId: row.surface_id,
    tenantId: row.tenant_id,
    permissions: portalPermissions(features),
    ceiling: surface.scopeCeiling,
    displayName: admin ? `Portal: ${admin}` : "Portal",
    expiresAt: row.expires_at,
    onBehalfOf: {
      actorType: row.created_by_type as ActorType,
      actorId: row.created_by_id,
      reason: admin ? `portal link vouching for ${admin}` : "portal link",
    },
  };
}
