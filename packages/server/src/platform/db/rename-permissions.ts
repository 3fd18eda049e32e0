import type { Kysely } from "kysely";
import { fromJson, toJson } from "./db.js";

/**
 * renameStoredPermissions rewrites permission names stored in a JSON array column (roles' grants,
 * keys' scopes) by `renames` (`{ "tenant:read": "tenants:read" }`), for data migrations that change
 * the permission vocabulary. Rows are read and written one table at a time; unchanged rows are not
 * written. Returns how many rows changed.
 */
export async function renameStoredPermissions(
  // biome-ignore lint/suspicious/noExplicitAny: migrations run on the untyped schema.
  db: Kysely<any>,
  table: string,
  column: string,
  renames: Readonly<Record<string, string>>,
): Promise<number> {
  const rows = await db.selectFrom(table).select(["id", column]).execute();
  let changed = 0;
  for (const row of rows as Array<Record<string, unknown>>) {
    const before = fromJson<unknown>(row[column]);
    if (!Array.isArray(before)) continue;
    const after = before.map((p) => (typeof p === "string" ? (renames[p] ?? p) : p));
    if (after.every((p, i) => p === before[i])) continue;
    await db
      .updateTable(table)
      .set({ [column]: toJson(after) })
      .where("id", "=", row.id)
      .execute();
    changed++;
  }
  return changed;
}
