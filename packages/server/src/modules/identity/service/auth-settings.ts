import type { z } from "zod";
import { fromJson, type Tx } from "../../../platform/db/db.js";
import { AppError } from "../../../platform/errors.js";
import { iso, isoOrNull } from "../../../platform/http/schemas.js";
import type { ActionContext } from "../../../platform/principal.js";
import { TenancyErrors } from "../../tenancy/index.js";
import type { Core } from "../internal/core.js";
import {
  AuthSettings,
  type AuthSettingsPatch,
  DEFAULT_AUTH_SETTINGS,
  mergeAuthSettings,
} from "../internal/settings/index.js";
import type { SurfaceAuthSettings } from "../schemas.js";

/**
 * AuthSettingsService: a surface's sign-in settings (email, MFA policy, passkeys, access tokens,
 * sign-in methods). Operators manage every surface; an environment's secret key manages the
 * surfaces of its environment (another environment's surface answers 404).
 */
export class AuthSettingsService {
  constructor(private readonly c: Core) {}

  /** settingsFor reads a surface's settings (the defaults when never configured). */
  async settingsFor(surfaceId: string, tx?: Tx): Promise<AuthSettings> {
    const row = await this.c.tables
      .q(tx)
      .selectFrom("surface_auth")
      .select("settings")
      .where("surface_id", "=", surfaceId)
      .executeTakeFirst();
    return row ? AuthSettings.parse(fromJson(row.settings)) : DEFAULT_AUTH_SETTINGS;
  }

  async get(ctx: ActionContext, surfaceId: string): Promise<z.infer<typeof SurfaceAuthSettings>> {
    await this.#surface(ctx, surfaceId, "surfaces:read");
    const row = await this.c.tables
      .q()
      .selectFrom("surface_auth")
      .select(["settings", "updated_at"])
      .where("surface_id", "=", surfaceId)
      .executeTakeFirst();
    return {
      surfaceId,
      settings: row ? AuthSettings.parse(fromJson(row.settings)) : DEFAULT_AUTH_SETTINGS,
      updatedAt: isoOrNull(row?.updated_at),
    };
  }

  /** update applies a patch section by section in one write with its fact. */
  async update(
    ctx: ActionContext,
    surfaceId: string,
    patch: AuthSettingsPatch,
  ): Promise<z.infer<typeof SurfaceAuthSettings>> {
    const surface = await this.#surface(ctx, surfaceId, "surfaces:write");
    return this.c.db.write(ctx, (tx) => this.changeIn(tx, ctx, surface, patch));
  }

  /**
   * changeIn applies a patch to a surface's settings in `tx` with its fact
   * (`surface.auth_settings_updated`), and drops the credentials cached for the surface. The caller
   * checked `surfaces:write` and that the surface is live in the caller's environment.
   */
  async changeIn(
    tx: Tx,
    ctx: ActionContext,
    surface: { id: string; environmentId: string },
    patch: AuthSettingsPatch,
  ): Promise<z.infer<typeof SurfaceAuthSettings>> {
    const surfaceId = surface.id;
    const now = this.c.clock.now();
    const row = await this.c.tables
      .q(tx)
      .selectFrom("surface_auth")
      .select("settings")
      .where("surface_id", "=", surfaceId)
      .$call((qb) => this.c.db.forUpdate(qb))
      .executeTakeFirst();
    const before = row ? AuthSettings.parse(fromJson(row.settings)) : DEFAULT_AUTH_SETTINGS;
    const after = mergeAuthSettings(before, patch);
    const json = JSON.stringify(after);
    if (row) {
      await tx
        .updateTable("surface_auth")
        .set({ settings: json, updated_at: now })
        .where("surface_id", "=", surfaceId)
        .execute();
    } else {
      await tx
        .insertInto("surface_auth")
        .values({
          surface_id: surfaceId,
          environment_id: surface.environmentId,
          settings: json,
          created_at: now,
          updated_at: now,
        })
        .onConflict((oc) => oc.column("surface_id").doUpdateSet({ settings: json, updated_at: now }))
        .execute();
    }
    await this.c.facts.record(tx, ctx, {
      type: "surface.auth_settings_updated",
      environmentId: surface.environmentId,
      targets: [{ type: "surface", id: surfaceId }],
      data: { changes: diff(before, after) },
    });
    await this.c.revoked(tx, surfaceId);
    return { surfaceId, settings: after, updatedAt: iso(now) };
  }

  /**
   * environmentSettings reads the settings of an environment's configured surfaces by surface id
   * (a surface never configured is absent: its settings are the defaults), in `tx` when given.
   */
  async environmentSettings(environmentId: string, tx?: Tx): Promise<Map<string, AuthSettings>> {
    const rows = await this.c.tables
      .q(tx)
      .selectFrom("surface_auth")
      .select(["surface_id", "settings"])
      .where("environment_id", "=", environmentId)
      .execute();
    return new Map(rows.map((r) => [r.surface_id, AuthSettings.parse(fromJson(r.settings))]));
  }

  /**
   * activeUsers counts the environment's users who are not disabled, narrowed to those holding a
   * password (`password`), holding one with an unverified address (`unverified`), or holding no
   * active second factor (`no_second_factor`); read in `tx` when given. What a change of sign-in
   * settings reaches (users belong to the environment and sign in through any of its surfaces).
   */
  async activeUsers(
    environmentId: string,
    which: "password" | "unverified" | "no_second_factor",
    tx?: Tx,
  ): Promise<number> {
    let q = this.c.tables
      .q(tx)
      .selectFrom("user")
      .select((eb) => eb.fn.countAll<number | string>().as("n"))
      .where("user.environment_id", "=", environmentId)
      .where("user.disabled_at", "is", null);
    if (which === "password" || which === "unverified") q = q.where("user.password_hash", "is not", null);
    if (which === "unverified") q = q.where("user.email_verified_at", "is", null);
    if (which === "no_second_factor") {
      q = q.where(({ not, exists, selectFrom }) =>
        not(
          exists(
            selectFrom("mfa_factor")
              .select("mfa_factor.id")
              .whereRef("mfa_factor.user_id", "=", "user.id")
              .where("mfa_factor.status", "=", "active"),
          ),
        ),
      );
    }
    return Number((await q.executeTakeFirst())?.n ?? 0);
  }

  /** livePasskeys counts the environment's unrevoked passkeys of a relying party (`rpId`), read in `tx` when given. */
  async livePasskeys(environmentId: string, rpId: string, tx?: Tx): Promise<number> {
    const row = await this.c.tables
      .q(tx)
      .selectFrom("passkey")
      .select((eb) => eb.fn.countAll<number | string>().as("n"))
      .where("environment_id", "=", environmentId)
      .where("rp_id", "=", rpId)
      .where("revoked_at", "is", null)
      .executeTakeFirst();
    return Number(row?.n ?? 0);
  }

  /** surfaceFor is this service's guard, shared with the surface's mail templates: the surface, or 404/403. */
  surfaceFor(ctx: ActionContext, surfaceId: string, permission: string) {
    return this.#surface(ctx, surfaceId, permission);
  }

  async #surface(ctx: ActionContext, surfaceId: string, permission: string) {
    const surface = await this.c.tenancy.surfaces.findActiveSurface(surfaceId);
    const notFound = () => new AppError(TenancyErrors.surface_not_found, `No active surface ${surfaceId}.`);
    // An operator acts plane-wide, unless it named the environment it acts in (then it is confined to it).
    if (ctx.principal?.actorType === "operator" && !ctx.principal.environmentId) {
      this.c.access.operator(ctx, permission);
    } else {
      const { environmentId } = this.c.access.environment(ctx, permission);
      if (surface && surface.environmentId !== environmentId) throw notFound();
    }
    if (!surface) throw notFound();
    return surface;
  }
}

/**
 * FACT_NAMES renames the settings whose `section.field` a fact may not carry as a key (it looks
 * like a credential: facts refuse `…password`), as `user.created` records `passwordSet`.
 */
const FACT_NAMES: Readonly<Record<string, string>> = { "signIn.password": "signIn.passwordSignIn" };

/** diff: the fields that changed, as `section.field: { before, after }` (renamed by FACT_NAMES). */
function diff(before: AuthSettings, after: AuthSettings): Record<string, { before: unknown; after: unknown }> {
  const out: Record<string, { before: unknown; after: unknown }> = {};
  for (const section of Object.keys(after) as Array<keyof AuthSettings>) {
    const b = before[section] as Record<string, unknown>;
    const a = after[section] as Record<string, unknown>;
    for (const key of Object.keys(a)) {
      const name = `${section}.${key}`;
      if (JSON.stringify(a[key]) !== JSON.stringify(b[key])) {
        out[FACT_NAMES[name] ?? name] = { before: b[key], after: a[key] };
      }
    }
  }
  return out;
}
