import { type SelectQueryBuilder, type SqlBool, sql } from "kysely";
import { z } from "zod";
import { AppError, PlatformErrors } from "../errors.js";
import { findNul } from "./problem.js";

/** paginationQuery is the query schema every list route extends: `?limit=&cursor=`. */
export const paginationQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20).describe("Page size, 1–100 (default 20)."),
  cursor: z.string().max(512).optional().describe("Opaque cursor from the previous page's `nextCursor`."),
});

/** Page is a list answer: at most `limit` items, whether more follow, and the cursor to them. */
export interface Page<Item> {
  data: Item[];
  hasMore: boolean;
  nextCursor: string | null;
}

/** pageSchema wraps an item schema in the list response shape `{ data, hasMore, nextCursor }`. */
export function pageSchema<T extends z.ZodType>(item: T) {
  return z.object({
    data: z.array(item),
    hasMore: z.boolean().describe("Whether more items follow this page (then `nextCursor` is set)."),
    nextCursor: z.string().nullable().describe("Pass as `cursor` to get the next page; null on the last page."),
  });
}

/**
 * encodeCursor makes an opaque cursor from the sort key of the last row of a page. Cursors are
 * not signed: they only ever narrow a query that is already scoped to the caller.
 */
export function encodeCursor(key: Record<string, string | number>): string {
  return Buffer.from(JSON.stringify(key)).toString("base64url");
}

/** decodeCursor reads a cursor back, validated. Throws 400 `invalid_cursor`. */
export function decodeCursor<T extends z.ZodType>(cursor: string, shape: T): z.output<T> {
  try {
    const parsed = shape.safeParse(JSON.parse(Buffer.from(cursor, "base64url").toString("utf8")));
    if (parsed.success && findNul(parsed.data, "") === null) return parsed.data;
  } catch {
    // fall through to the error below
  }
  throw new AppError(PlatformErrors.invalid_cursor, "The cursor is not valid; start again without one.");
}

/**
 * toPage cuts a result fetched with `limit + 1` rows into a page: `data` holds at most `limit`
 * rows, `hasMore` says whether more rows exist, and `nextCursor` is built from the last row
 * returned when they do.
 */
export function toPage<Row, Item>(
  rows: Row[],
  limit: number,
  cursorOf: (row: Row) => Record<string, string | number>,
  toItem: (row: Row) => Item,
): Page<Item> {
  const more = rows.length > limit;
  const page = more ? rows.slice(0, limit) : rows;
  const last = page[page.length - 1];
  const nextCursor = more && last !== undefined ? encodeCursor(cursorOf(last)) : null;
  return { data: page.map(toItem), hasMore: nextCursor !== null, nextCursor };
}

const IdCursor = z.object({ id: z.string().max(64) });

/** afterIdCursor decodes the cursor of a list ordered by its time-sortable ids (null: first page). */
export function afterIdCursor(cursor: string | undefined): string | null {
  return cursor ? decodeCursor(cursor, IdCursor).id : null;
}

/** PageQuery is what a list route passes to `pageById`: its validated `?limit=&cursor=`. */
export interface PageQuery {
  limit: number;
  cursor?: string | undefined;
}

/** Keyset names the one column a list is ordered by and where the previous page ended. */
export interface Keyset {
  /** column: a unique, non-null column of the listed table (unqualified). */
  column: string;
  /** after: the last key of the previous page, or null for the first page. */
  after: string | number | null;
  /** descending: newest (highest key) first; default ascending. */
  descending?: boolean;
}

/**
 * keysetPage runs `qb` as one page of a list ordered by `keyset.column`: rows past
 * `keyset.after` (below it when descending), in that order, at most `limit` of them, with
 * `nextCursor` from `cursorOf` of the last row when more rows exist. `qb` must not set its own
 * order or limit. The order is stable only if the column is unique.
 */
export async function keysetPage<DB, TB extends keyof DB, Row, Item>(
  qb: SelectQueryBuilder<DB, TB, Row>,
  keyset: Keyset,
  limit: number,
  cursorOf: (row: Row) => Record<string, string | number>,
  toItem: (row: Row) => Item,
): Promise<Page<Item>> {
  const column = sql.ref(keyset.column);
  const past = keyset.descending ? sql`<` : sql`>`;
  const rows = await qb
    .$if(keyset.after !== null, (q) => q.where(sql<SqlBool>`${column} ${past} ${keyset.after}`))
    .orderBy(column, keyset.descending ? "desc" : "asc")
    .limit(limit + 1)
    .execute();
  return toPage(rows, limit, cursorOf, toItem);
}

/**
 * pageById is `keysetPage` for the common list: ordered by the rows' time-sortable `id`
 * (oldest first unless `descending`), with the cursor `afterIdCursor` reads. Throws 400
 * `invalid_cursor` for a cursor it did not make.
 */
export function pageById<DB, TB extends keyof DB, Row extends { id: string }, Item>(
  qb: SelectQueryBuilder<DB, TB, Row>,
  query: PageQuery,
  toItem: (row: Row) => Item,
  options: { descending?: boolean } = {},
): Promise<Page<Item>> {
  const keyset = { column: "id", after: afterIdCursor(query.cursor), descending: options.descending ?? false };
  return keysetPage(qb, keyset, query.limit, (r) => ({ id: r.id }), toItem);
}
