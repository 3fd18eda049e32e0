import type { z } from "zod";
import { fromJson, type Tx, type TypedDb, toJson } from "../../../platform/db/db.js";
import { AppError } from "../../../platform/errors.js";
import { pageById } from "../../../platform/http/pagination.js";
import { iso } from "../../../platform/http/schemas.js";
import type { ModuleContext } from "../../../platform/module.js";
import type { ActionContext } from "../../../platform/principal.js";
import { TenancyErrors } from "../errors.js";
import { newId } from "../ids.js";
import { changedFields, toSurface } from "../internal/rows.js";
import type { CreateSurfaceInput, ListQuery, Surface, UpdateSurfaceInput } from "../schemas.js";
import type { TenancyTables } from "../tables.js";

/** SurfacesService: the product surfaces of an environment (operator API). */
export class SurfacesService {
  #origins: { set: Set<string>; loadedAt: number } | null = null;

  readonly #db: TypedDb<TenancyTables>;

  constructor(private readonly m: ModuleContext) {
    this.#db = m.db.tables<TenancyTables>();
  }

  /**
   * allowsOrigin tells CORS whether any active surface lists `origin`. The set is cached for 30 s
   * (dropped at once in this process when a surface changes; other processes catch up within 30 s).
   */
  async allowsOrigin(origin: string): Promise<boolean> {
    const now = this.m.clock.now();
    if (!this.#origins || now - this.#origins.loadedAt > 30_000) {
      const rows = await this.#db
        .q()
        .selectFrom("surface")
        .innerJoin("environment", "environment.id", "surface.environment_id")
        .innerJoin("project", "project.id", "environment.project_id")
        .select("surface.allowed_origins")
        .where("surface.archived_at", "is", null)
        .where("environment.archived_at", "is", null)
        .where("project.archived_at", "is", null)
        .execute();
      this.#origins = { set: new Set(rows.flatMap((r) => fromJson<string[]>(r.allowed_origins))), loadedAt: now };
    }
    return this.#origins.set.has(origin);
  }

  /** forgetOrigins drops the cached origin set (after any surface, environment or project change). */
  forgetOrigins(): void {
    this.#origins = null;
  }

  async createSurface(
    ctx: ActionContext,
    environmentId: string,
    input: z.infer<typeof CreateSurfaceInput>,
  ): Promise<Surface> {
    this.m.access.operator(ctx, "surfaces:write");
    return this.m.db.write(ctx, (tx) => this.insertSurface(tx, ctx, environmentId, input));
  }

  /** insertSurface creates a surface in `tx` (the caller checked `surfaces:write`). */
  async insertSurface(
    tx: Tx,
    ctx: ActionContext,
    environmentId: string,
    input: z.infer<typeof CreateSurfaceInput>,
  ): Promise<Surface> {
    const env = await tx.selectFrom("environment").selectAll().where("id", "=", environmentId).executeTakeFirst();
    if (!env) throw new AppError(TenancyErrors.environment_not_found, `No environment ${environmentId}.`);
    if (env.archived_at !== null) throw new AppError(TenancyErrors.archived, "The environment is archived.");
    const now = this.m.clock.now();
    const row = {
      id: newId("surface", now),
      environment_id: environmentId,
      name: input.name,
      kind: input.kind,
      allowed_origins: toJson(input.allowedOrigins),
      scope_ceiling: toJson(input.scopeCeiling),
      self_signup: this.m.db.bool(input.selfSignup),
      archived_at: null,
      created_at: now,
      updated_at: now,
    };
    await tx.insertInto("surface").values(row).execute();
    const surface = toSurface(row);
    await this.m.facts.record(tx, ctx, {
      type: "surface.created",
      environmentId,
      targets: [{ type: "surface", id: surface.id }],
      data: {
        name: surface.name,
        kind: surface.kind,
        allowedOrigins: surface.allowedOrigins,
        scopeCeiling: surface.scopeCeiling,
        selfSignup: surface.selfSignup,
      },
    });
    return surface;
  }

  async listSurfaces(ctx: ActionContext, environmentId: string, query: z.infer<typeof ListQuery>) {
    this.m.access.operator(ctx, "surfaces:read");
    const env = await this.#db
      .q()
      .selectFrom("environment")
      .select("id")
      .where("id", "=", environmentId)
      .executeTakeFirst();
    if (!env) throw new AppError(TenancyErrors.environment_not_found, `No environment ${environmentId}.`);
    return pageById(
      this.#db
        .q()
        .selectFrom("surface")
        .selectAll()
        .where("environment_id", "=", environmentId)
        .$if(query.archived !== "true", (qb) => qb.where("archived_at", "is", null)),
      query,
      toSurface,
    );
  }

  async findSurfaceById(ctx: ActionContext, id: string): Promise<Surface> {
    this.m.access.operator(ctx, "surfaces:read");
    return toSurface(await this.#surface(id));
  }

  async updateSurface(ctx: ActionContext, id: string, input: z.infer<typeof UpdateSurfaceInput>): Promise<Surface> {
    this.m.access.operator(ctx, "surfaces:write");
    return this.m.db.write(ctx, (tx) => this.changeSurface(tx, ctx, id, input));
  }

  /** changeSurface changes a surface in `tx` (the caller checked `surfaces:write`). */
  async changeSurface(
    tx: Tx,
    ctx: ActionContext,
    id: string,
    input: z.infer<typeof UpdateSurfaceInput>,
  ): Promise<Surface> {
    const before = toSurface(await this.#surface(id, tx));
    if (before.archivedAt !== null) throw new AppError(TenancyErrors.archived, "The surface is archived.");
    const now = this.m.clock.now();
    const after: Surface = {
      ...before,
      name: input.name ?? before.name,
      allowedOrigins: input.allowedOrigins ?? before.allowedOrigins,
      scopeCeiling: input.scopeCeiling ?? before.scopeCeiling,
      selfSignup: input.selfSignup ?? before.selfSignup,
      updatedAt: iso(now),
    };
    const changes = changedFields(before, after, ["name", "allowedOrigins", "scopeCeiling", "selfSignup"]);
    if (!changes) return before;
    await tx
      .updateTable("surface")
      .set({
        name: after.name,
        allowed_origins: toJson(after.allowedOrigins),
        scope_ceiling: toJson(after.scopeCeiling),
        self_signup: this.m.db.bool(after.selfSignup),
        updated_at: now,
      })
      .where("id", "=", id)
      .execute();
    await this.m.facts.record(tx, ctx, {
      type: "surface.updated",
      environmentId: before.environmentId,
      targets: [{ type: "surface", id }],
      changes,
    });
    return after;
  }

  async archiveSurface(ctx: ActionContext, id: string): Promise<Surface> {
    this.m.access.operator(ctx, "surfaces:write");
    return this.m.db.write(ctx, (tx) => this.archiveIn(tx, ctx, id));
  }

  /** archiveIn archives a surface in `tx` (the caller checked `surfaces:write`). */
  async archiveIn(tx: Tx, ctx: ActionContext, id: string): Promise<Surface> {
    const surface = toSurface(await this.#surface(id, tx));
    if (surface.archivedAt !== null) return surface;
    const now = this.m.clock.now();
    await tx.updateTable("surface").set({ archived_at: now, updated_at: now }).where("id", "=", id).execute();
    await this.m.facts.record(tx, ctx, {
      type: "surface.archived",
      environmentId: surface.environmentId,
      targets: [{ type: "surface", id }],
    });
    return { ...surface, archivedAt: iso(now), updatedAt: iso(now) };
  }

  /** liveSurfaces lists the environment's surfaces that are not archived, by name then id (read in `tx` when given). */
  async liveSurfaces(environmentId: string, tx?: Tx): Promise<Surface[]> {
    const rows = await this.#db
      .q(tx)
      .selectFrom("surface")
      .selectAll()
      .where("environment_id", "=", environmentId)
      .where("archived_at", "is", null)
      .orderBy("name")
      .orderBy("id")
      .execute();
    return rows.map(toSurface);
  }

  /** findActiveSurface returns a surface whose surface, environment and project are all live, or null. */
  async findActiveSurface(id: string): Promise<Surface | null> {
    const row = await this.#db
      .q()
      .selectFrom("surface")
      .innerJoin("environment", "environment.id", "surface.environment_id")
      .innerJoin("project", "project.id", "environment.project_id")
      .selectAll("surface")
      .where("surface.id", "=", id)
      .where("surface.archived_at", "is", null)
      .where("environment.archived_at", "is", null)
      .where("project.archived_at", "is", null)
      .executeTakeFirst();
    return row ? toSurface(row) : null;
  }

  async #surface(id: string, tx?: Tx) {
    const row = await this.#db.q(tx).selectFrom("surface").selectAll().where("id", "=", id).executeTakeFirst();
    if (!row) throw new AppError(TenancyErrors.surface_not_found, `No surface ${id}.`);
    return row;
  }
}
