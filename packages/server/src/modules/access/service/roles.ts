import type { Selectable } from "kysely";
import type { z } from "zod";
import { OwnedCache } from "../../../platform/cache.js";
import { fromJson, isUniqueViolation, type Tx, toJson } from "../../../platform/db/db.js";
import { AppError } from "../../../platform/errors.js";
import { iso } from "../../../platform/http/schemas.js";
import type { ActionContext } from "../../../platform/principal.js";
import { AccessErrors } from "../errors.js";
import { newId } from "../ids.js";
import { ACCESS_TOPIC, type Core, rolesOwner } from "../internal/core.js";
import type { CreateRoleInput, Role, UpdateRoleInput } from "../schemas.js";
import { BUILT_IN_ROLE_KEYS, type BuiltInRole, buildPlanePermissions, type PlanePermissions } from "../statements.js";
import type { RoleTable } from "../tables.js";

function toRole(r: Selectable<RoleTable>): Role {
  return {
    key: r.key,
    id: r.id,
    name: r.name,
    description: r.description,
    permissions: fromJson<string[]>(r.permissions),
    builtIn: false,
    createdAt: iso(r.created_at),
    updatedAt: iso(r.updated_at),
  };
}

function toBuiltInRole(r: BuiltInRole): Role {
  return {
    key: r.key,
    id: null,
    name: r.name,
    description: r.description,
    permissions: [...r.permissions],
    builtIn: true,
    createdAt: null,
    updatedAt: null,
  };
}

/**
 * RolesService: the environment's roles — the built-in `owner`, `admin`, `member` and the
 * product's custom roles over its own resources (secret-key API). `permissionsOf` is on the hot
 * path: an environment's roles are cached and evicted in every process when one changes.
 */
export class RolesService {
  readonly #cache: OwnedCache<ReadonlyMap<string, readonly string[]>>;
  readonly #plane: PlanePermissions;
  readonly #builtIn: readonly Role[];

  constructor(private readonly c: Core) {
    this.#cache = new OwnedCache(c.m.bus, [ACCESS_TOPIC]);
    this.#plane = buildPlanePermissions(c.m.permissions);
    this.#builtIn = this.#plane.builtInRoles.map(toBuiltInRole);
  }

  /** statements lists the plane's permission statements: every module's, in dependency order. */
  statements(): Array<{ resource: string; actions: string[] }> {
    return Object.entries(this.#plane.statements).map(([resource, actions]) => ({ resource, actions: [...actions] }));
  }

  /** builtInRoles lists `owner`, `admin` and `member` as built from the modules' role grants. */
  builtInRoles(): readonly BuiltInRole[] {
    return this.#plane.builtInRoles;
  }

  async listRoles(ctx: ActionContext): Promise<{ data: Role[] }> {
    const { environmentId } = this.c.m.access.environment(ctx, "roles:read");
    return { data: [...this.#builtIn, ...(await this.customRoles(environmentId))] };
  }

  async findRoleByKey(ctx: ActionContext, key: string): Promise<Role> {
    const { environmentId } = this.c.m.access.environment(ctx, "roles:read");
    const builtIn = this.#builtIn.find((r) => r.key === key);
    if (builtIn) return builtIn;
    return toRole(await this.#row(environmentId, key));
  }

  async createRole(ctx: ActionContext, input: z.infer<typeof CreateRoleInput>): Promise<Role> {
    const { environmentId } = this.c.m.access.environment(ctx, "roles:write");
    if (BUILT_IN_ROLE_KEYS.has(input.key)) {
      throw new AppError(AccessErrors.role_key_taken, `"${input.key}" is a built-in role.`);
    }
    try {
      return await this.c.m.db.write(ctx, (tx) => this.insertRole(tx, ctx, environmentId, input));
    } catch (err) {
      if (isUniqueViolation(err)) throw new AppError(AccessErrors.role_key_taken, `A role "${input.key}" exists.`);
      throw err;
    }
  }

  /** insertRole creates a custom role in `tx` (the caller checked `roles:write` and that the key is not built-in). */
  async insertRole(
    tx: Tx,
    ctx: ActionContext,
    environmentId: string,
    input: { key: string; name: string; description?: string | null | undefined; permissions: readonly string[] },
  ): Promise<Role> {
    const now = this.c.m.clock.now();
    const row = {
      id: newId("role", now),
      environment_id: environmentId,
      key: input.key,
      name: input.name,
      description: input.description ?? null,
      permissions: toJson([...new Set(input.permissions)].sort()),
      created_at: now,
      updated_at: now,
    };
    await this.c.tables.q(tx).insertInto("role").values(row).execute();
    await this.c.changed(tx, rolesOwner(environmentId));
    const role = toRole(row);
    await this.c.m.facts.record(tx, ctx, {
      type: "role.created",
      targets: [{ type: "role", id: row.id }],
      data: { key: role.key, name: role.name, permissions: role.permissions },
    });
    return role;
  }

  /** updateRole changes a custom role; members holding it gain or lose permissions at once. */
  async updateRole(ctx: ActionContext, key: string, input: z.infer<typeof UpdateRoleInput>): Promise<Role> {
    const { environmentId } = this.c.m.access.environment(ctx, "roles:write");
    this.#refuseBuiltIn(key);
    return this.c.m.db.write(ctx, (tx) => this.changeRole(tx, ctx, environmentId, key, input));
  }

  /** changeRole changes a custom role in `tx` (the caller checked `roles:write` and that it is not built-in). */
  async changeRole(
    tx: Tx,
    ctx: ActionContext,
    environmentId: string,
    key: string,
    input: z.infer<typeof UpdateRoleInput>,
  ): Promise<Role> {
    const before = toRole(await this.#row(environmentId, key, tx));
    const now = this.c.m.clock.now();
    const after: Role = {
      ...before,
      name: input.name ?? before.name,
      description: input.description === undefined ? before.description : input.description,
      permissions: input.permissions ? [...new Set(input.permissions)].sort() : before.permissions,
      updatedAt: iso(now),
    };
    await this.c.tables
      .q(tx)
      .updateTable("role")
      .set({
        name: after.name,
        description: after.description,
        permissions: toJson(after.permissions),
        updated_at: now,
      })
      .where("environment_id", "=", environmentId)
      .where("key", "=", key)
      .execute();
    await this.c.changed(tx, rolesOwner(environmentId));
    await this.c.m.facts.record(tx, ctx, {
      type: "role.updated",
      targets: [{ type: "role", id: before.id as string }],
      changes: {
        before: { name: before.name, description: before.description, permissions: before.permissions },
        after: { name: after.name, description: after.description, permissions: after.permissions },
      },
    });
    return after;
  }

  /** deleteRole removes a custom role. Throws 409 `role_in_use` while a member or pending invitation holds it. */
  async deleteRole(ctx: ActionContext, key: string): Promise<Role> {
    const { environmentId } = this.c.m.access.environment(ctx, "roles:write");
    this.#refuseBuiltIn(key);
    return this.c.m.db.write(ctx, (tx) => this.removeRole(tx, ctx, environmentId, key));
  }

  /** removeRole deletes a custom role in `tx`. Throws 409 `role_in_use` while a member or pending invitation holds it. */
  async removeRole(tx: Tx, ctx: ActionContext, environmentId: string, key: string): Promise<Role> {
    const role = toRole(await this.#row(environmentId, key, tx));
    const { memberships, invitations } = await this.holders(environmentId, key, tx);
    if (memberships > 0 || invitations > 0) {
      throw new AppError(
        AccessErrors.role_in_use,
        `The role "${key}" is held by ${memberships} membership(s) and ${invitations} pending invitation(s); ` +
          "change their roles first.",
      );
    }
    await this.c.tables
      .q(tx)
      .deleteFrom("role")
      .where("environment_id", "=", environmentId)
      .where("key", "=", key)
      .execute();
    await this.c.changed(tx, rolesOwner(environmentId));
    await this.c.m.facts.record(tx, ctx, {
      type: "role.deleted",
      targets: [{ type: "role", id: role.id as string }],
      data: { key },
    });
    return role;
  }

  /** holders counts the memberships and pending invitations that hold role `key`. */
  async holders(environmentId: string, key: string, tx?: Tx): Promise<{ memberships: number; invitations: number }> {
    const held = await this.c.tables
      .q(tx)
      .selectFrom("membership_role")
      .select((eb) => eb.fn.countAll<number>().as("n"))
      .where("environment_id", "=", environmentId)
      .where("role_key", "=", key)
      .executeTakeFirstOrThrow();
    const invitations = await this.c.tables
      .q(tx)
      .selectFrom("invitation")
      .select(["roles"])
      .where("environment_id", "=", environmentId)
      .where("accepted_at", "is", null)
      .where("revoked_at", "is", null)
      .where("expires_at", ">", this.c.m.clock.now())
      .execute();
    return {
      memberships: Number(held.n),
      invitations: invitations.filter((i) => fromJson<string[]>(i.roles).includes(key)).length,
    };
  }

  /** customRoles lists the environment's custom roles, by key (read in `tx` when given). */
  async customRoles(environmentId: string, tx?: Tx): Promise<Role[]> {
    const rows = await this.c.tables
      .q(tx)
      .selectFrom("role")
      .selectAll()
      .where("environment_id", "=", environmentId)
      .orderBy("key")
      .execute();
    return rows.map(toRole);
  }

  /**
   * permissionsOf returns the permissions granted by role keys in an environment (unknown keys
   * grant nothing). Cached per environment; evicted everywhere when a custom role changes.
   */
  async permissionsOf(environmentId: string, keys: readonly string[], tx?: Tx): Promise<string[]> {
    const table = await this.#table(environmentId, tx);
    const out: string[] = [];
    for (const key of keys) out.push(...(table.get(key) ?? []));
    return out;
  }

  /** grantsOf lists, per role key, the permissions it grants (for `explain`). */
  async grantsOf(
    environmentId: string,
    keys: readonly string[],
  ): Promise<Array<{ role: string; grants: readonly string[] }>> {
    const table = await this.#table(environmentId);
    return keys.map((role) => ({ role, grants: table.get(role) ?? [] }));
  }

  /**
   * requireRoles throws 400 `unknown_role` naming role keys that do not exist in the environment.
   * In a write's transaction `tx` the named custom roles are locked first, so a concurrent update
   * or deletion of one either commits before (and is seen) or waits for the write.
   */
  async requireRoles(environmentId: string, keys: readonly string[], tx?: Tx): Promise<void> {
    const custom = keys.filter((k) => !BUILT_IN_ROLE_KEYS.has(k));
    if (tx && custom.length > 0) {
      await this.c.tables
        .q(tx)
        .selectFrom("role")
        .select("id")
        .where("environment_id", "=", environmentId)
        .where("key", "in", custom)
        .orderBy("key")
        .$call((qb) => this.c.m.db.forUpdate(qb))
        .execute();
    }
    const table = await this.#table(environmentId, tx);
    const unknown = keys.filter((k) => !table.has(k));
    if (unknown.length > 0) {
      throw new AppError(AccessErrors.unknown_role, `No such role(s): ${unknown.join(", ")}.`, {
        errors: unknown.map((k) => ({ path: "body.roles", message: `unknown role "${k}"` })),
      });
    }
  }

  async #table(environmentId: string, tx?: Tx): Promise<ReadonlyMap<string, readonly string[]>> {
    const now = this.c.m.clock.now();
    if (!tx) {
      const hit = this.#cache.get(environmentId, now);
      if (hit) return hit.value;
    }
    const generation = this.#cache.generation;
    const rows = await this.c.tables
      .q(tx)
      .selectFrom("role")
      .select(["key", "permissions"])
      .where("environment_id", "=", environmentId)
      .execute();
    const table = new Map<string, readonly string[]>(this.#plane.builtInRoles.map((r) => [r.key, r.permissions]));
    for (const r of rows) table.set(r.key, fromJson<string[]>(r.permissions));
    if (!tx) {
      this.#cache.set(
        environmentId,
        {
          value: table,
          validUntil: Number.MAX_SAFE_INTEGER,
          owners: [rolesOwner(environmentId), environmentId],
          cachedAt: now,
        },
        generation,
      );
    }
    return table;
  }

  #refuseBuiltIn(key: string): void {
    if (BUILT_IN_ROLE_KEYS.has(key)) {
      throw new AppError(AccessErrors.role_built_in, `"${key}" is a built-in role; define a custom role instead.`);
    }
  }

  /** #row reads a custom role; in a transaction its row is locked (see `requireRoles`). */
  async #row(environmentId: string, key: string, tx?: Tx) {
    const row = await this.c.tables
      .q(tx)
      .selectFrom("role")
      .selectAll()
      .where("environment_id", "=", environmentId)
      .where("key", "=", key)
      .$if(tx !== undefined, (qb) => qb.$call((q) => this.c.m.db.forUpdate(q)))
      .executeTakeFirst();
    if (!row) throw new AppError(AccessErrors.role_not_found, `No role "${key}".`);
    return row;
  }
}
