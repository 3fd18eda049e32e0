import type { FlagSpec } from "../command.js";
import { parse } from "../command.js";

/** LIMIT_FLAG: how many items a list command shows (it pages through the API as needed). */
export const LIMIT_FLAG: FlagSpec = {
  type: "string",
  value: "N",
  description: "Show at most N items (default 50; pages are fetched as needed).",
  parse: parse.positiveInt(10_000),
};

/** take collects at most `max` items of an async iterator (a paginated list), then stops it. */
export async function take<T>(items: AsyncIterable<T>, max: number): Promise<T[]> {
  const out: T[] = [];
  if (max <= 0) return out;
  for await (const item of items) {
    out.push(item);
    if (out.length >= max) break;
  }
  return out;
}

/** pageSize is the API page size for a list of at most `max` items. */
export function pageSize(max: number): number {
  return Math.min(max, 100);
}
