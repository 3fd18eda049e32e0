import type { z } from "zod";
import { isUniqueViolation, type Tx, type TypedDb } from "../../../platform/db/db.js";
import { AppError } from "../../../platform/errors.js";
import { pageById } from "../../../platform/http/pagination.js";
import { iso } from "../../../platform/http/schemas.js";
import type { ModuleContext } from "../../../platform/module.js";
import type { ActionContext } from "../../../platform/principal.js";
import { TenancyErrors } from "../errors.js";
import { newId } from "../ids.js";
import { changedFields, toEnvironment, toProject } from "../internal/rows.js";
import {
  type CreateEnvironmentInput,
  type CreateProjectInput,
  type Environment,
  type ListQuery,
  type Project,
  slugify,
  type UpdateEnvironmentInput,
  type UpdateProjectInput,
} from "../schemas.js";
import type { TenancyTables } from "../tables.js";

/** PRODUCTION_SLUGS: environments created with these slugs are production unless told otherwise. */
const PRODUCTION_SLUGS = new Set(["production", "prod", "live"]);

/** ProjectsService: projects and their environments (operator API). */
export class ProjectsService {
  readonly #db: TypedDb<TenancyTables>;

  constructor(private readonly m: ModuleContext) {
    this.#db = m.db.tables<TenancyTables>();
  }

  async createProject(ctx: ActionContext, input: z.infer<typeof CreateProjectInput>): Promise<Project> {
    this.m.access.operator(ctx, "projects:write");
    const slug = input.slug ?? slugify(input.name);
    try {
      return await this.m.db.write(ctx, async (tx) => {
        const now = this.m.clock.now();
        const row = {
          id: newId("project", now),
          name: input.name,
          slug,
          archived_at: null,
          created_at: now,
          updated_at: now,
        };
        await tx.insertInto("project").values(row).execute();
        await this.m.facts.record(tx, ctx, {
          type: "project.created",
          environmentId: null,
          targets: [{ type: "project", id: row.id }],
          data: { name: row.name, slug },
        });
        return toProject(row);
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw new AppError(TenancyErrors.project_slug_taken, `The slug "${slug}" is taken.`);
      throw err;
    }
  }

  async listProjects(ctx: ActionContext, query: z.infer<typeof ListQuery>) {
    this.m.access.operator(ctx, "projects:read");
    return pageById(
      this.#db
        .q()
        .selectFrom("project")
        .selectAll()
        .$if(query.archived !== "true", (qb) => qb.where("archived_at", "is", null)),
      query,
      toProject,
    );
  }

  async findProjectById(ctx: ActionContext, id: string): Promise<Project> {
    this.m.access.operator(ctx, "projects:read");
    return toProject(await this.#project(id));
  }

  async updateProject(ctx: ActionContext, id: string, input: z.infer<typeof UpdateProjectInput>): Promise<Project> {
    this.m.access.operator(ctx, "projects:write");
    return this.m.db.write(ctx, async (tx) => {
      const before = toProject(await this.#project(id, tx));
      if (before.archivedAt !== null) throw new AppError(TenancyErrors.archived, "The project is archived.");
      const now = this.m.clock.now();
      const after = { ...before, name: input.name ?? before.name, updatedAt: iso(now) };
      const changes = changedFields(before, after, ["name"]);
      if (changes) {
        await tx.updateTable("project").set({ name: after.name, updated_at: now }).where("id", "=", id).execute();
        await this.m.facts.record(tx, ctx, {
          type: "project.updated",
          environmentId: null,
          targets: [{ type: "project", id }],
          changes,
        });
        return after;
      }
      return before;
    });
  }

  /** archiveProject archives the project; every credential of its environments stops working. */
  async archiveProject(ctx: ActionContext, id: string): Promise<Project> {
    this.m.access.operator(ctx, "projects:write");
    return this.m.db.write(ctx, async (tx) => {
      const project = toProject(await this.#project(id, tx));
      if (project.archivedAt !== null) return project;
      const now = this.m.clock.now();
      await tx.updateTable("project").set({ archived_at: now, updated_at: now }).where("id", "=", id).execute();
      await this.m.facts.record(tx, ctx, {
        type: "project.archived",
        environmentId: null,
        targets: [{ type: "project", id }],
      });
      return { ...project, archivedAt: iso(now), updatedAt: iso(now) };
    });
  }

  async createEnvironment(
    ctx: ActionContext,
    projectId: string,
    input: z.infer<typeof CreateEnvironmentInput>,
  ): Promise<Environment> {
    this.m.access.operator(ctx, "environments:write");
    const slug = input.slug ?? slugify(input.name);
    try {
      return await this.m.db.write(ctx, async (tx) => {
        const project = await this.#project(projectId, tx);
        if (project.archived_at !== null) throw new AppError(TenancyErrors.archived, "The project is archived.");
        const now = this.m.clock.now();
        const row = {
          id: newId("environment", now),
          project_id: projectId,
          name: input.name,
          slug,
          production: this.m.db.bool(input.production ?? PRODUCTION_SLUGS.has(slug)),
          archived_at: null,
          created_at: now,
          updated_at: now,
        };
        await tx.insertInto("environment").values(row).execute();
        await this.m.facts.record(tx, ctx, {
          type: "environment.created",
          environmentId: row.id,
          targets: [
            { type: "environment", id: row.id },
            { type: "project", id: projectId },
          ],
          data: { name: row.name, slug, production: Boolean(row.production) },
        });
        return toEnvironment(row);
      });
    } catch (err) {
      if (isUniqueViolation(err)) {
        throw new AppError(TenancyErrors.environment_slug_taken, `The project already has an environment "${slug}".`);
      }
      throw err;
    }
  }

  async listEnvironments(ctx: ActionContext, projectId: string, query: z.infer<typeof ListQuery>) {
    this.m.access.operator(ctx, "environments:read");
    await this.#project(projectId);
    return pageById(
      this.#db
        .q()
        .selectFrom("environment")
        .selectAll()
        .where("project_id", "=", projectId)
        .$if(query.archived !== "true", (qb) => qb.where("archived_at", "is", null)),
      query,
      toEnvironment,
    );
  }

  /** isProduction tells whether an environment holds live data (false for an unknown one). */
  async isProduction(environmentId: string, tx?: Tx): Promise<boolean> {
    const row = await this.#db
      .q(tx)
      .selectFrom("environment")
      .select("production")
      .where("id", "=", environmentId)
      .executeTakeFirst();
    return row !== undefined && Boolean(row.production);
  }

  /** environmentActive tells whether an environment exists and neither it nor its project is archived. */
  async environmentActive(id: string): Promise<boolean> {
    const row = await this.#db
      .q()
      .selectFrom("environment")
      .innerJoin("project", "project.id", "environment.project_id")
      .select("environment.id")
      .where("environment.id", "=", id)
      .where("environment.archived_at", "is", null)
      .where("project.archived_at", "is", null)
      .executeTakeFirst();
    return row !== undefined;
  }

  /** environmentExists tells other modules whether an environment id is known (archived or not). */
  async environmentExists(id: string): Promise<boolean> {
    const row = await this.#db.q().selectFrom("environment").select("id").where("id", "=", id).executeTakeFirst();
    return row !== undefined;
  }

  /** environmentName tells other modules an environment's name (null for an unknown id), e.g. on a document. */
  async environmentName(id: string): Promise<string | null> {
    const row = await this.#db.q().selectFrom("environment").select("name").where("id", "=", id).executeTakeFirst();
    return row?.name ?? null;
  }

  async findEnvironmentById(ctx: ActionContext, id: string): Promise<Environment> {
    this.m.access.operator(ctx, "environments:read");
    return toEnvironment(await this.#environment(id));
  }

  async updateEnvironment(
    ctx: ActionContext,
    id: string,
    input: z.infer<typeof UpdateEnvironmentInput>,
  ): Promise<Environment> {
    this.m.access.operator(ctx, "environments:write");
    return this.m.db.write(ctx, async (tx) => {
      const before = toEnvironment(await this.#environment(id, tx));
      if (before.archivedAt !== null) throw new AppError(TenancyErrors.archived, "The environment is archived.");
      const now = this.m.clock.now();
      const after = { ...before, name: input.name ?? before.name, updatedAt: iso(now) };
      const changes = changedFields(before, after, ["name"]);
      if (!changes) return before;
      await tx.updateTable("environment").set({ name: after.name, updated_at: now }).where("id", "=", id).execute();
      await this.m.facts.record(tx, ctx, {
        type: "environment.updated",
        environmentId: id,
        targets: [{ type: "environment", id }],
        changes,
      });
      return after;
    });
  }

  /** archiveEnvironment archives it: every key and session of the environment stops working. */
  async archiveEnvironment(ctx: ActionContext, id: string): Promise<Environment> {
    this.m.access.operator(ctx, "environments:write");
    return this.m.db.write(ctx, async (tx) => {
      const env = toEnvironment(await this.#environment(id, tx));
      if (env.archivedAt !== null) return env;
      const now = this.m.clock.now();
      await tx.updateTable("environment").set({ archived_at: now, updated_at: now }).where("id", "=", id).execute();
      await this.m.facts.record(tx, ctx, {
        type: "environment.archived",
        environmentId: id,
        targets: [{ type: "environment", id }],
      });
      return { ...env, archivedAt: iso(now), updatedAt: iso(now) };
    });
  }

  async #project(id: string, tx?: Tx) {
    const row = await this.#db.q(tx).selectFrom("project").selectAll().where("id", "=", id).executeTakeFirst();
    if (!row) throw new AppError(TenancyErrors.project_not_found, `No project ${id}.`);
    return row;
  }

  async #environment(id: string, tx?: Tx) {
    const row = await this.#db.q(tx).selectFrom("environment").selectAll().where("id", "=", id).executeTakeFirst();
    if (!row) throw new AppError(TenancyErrors.environment_not_found, `No environment ${id}.`);
    return row;
  }
}
