import createClient, { type Client } from "openapi-fetch";
import { type EventStreamOptions, type StreamedEvent, streamEvents } from "./events.js";
import type { paths } from "./generated/openapi.js";
import { unwrap } from "./problem.js";
import { createTransport, type TransportOptions } from "./transport.js";

/** BaseplateOptions configure a client (see TransportOptions for credentials, retries and timeout). */
export interface BaseplateOptions extends TransportOptions {
  /** baseUrl: the plane's address, e.g. `http://127.0.0.1:8080` (default `BASEPLATE_URL`). */
  baseUrl?: string;
}

type GetOperation<P extends keyof paths> = NonNullable<paths[P]["get"]>;
type JsonOk<Op> = Op extends { responses: { 200: { content: { "application/json": infer B } } } } ? B : never;
type QueryOf<Op> = Op extends { parameters: { query?: infer Q } } ? NonNullable<Q> : never;
type PathParamsOf<Op> = Op extends { parameters: { path: infer X } } ? X : never;

/** PaginatedPath is every GET path that answers a page: `{ data, nextCursor }`. */
export type PaginatedPath = {
  [P in keyof paths]: JsonOk<GetOperation<P>> extends { data: unknown[]; nextCursor: unknown } ? P : never;
}[keyof paths];

/** PageItem is the type of one item of a paginated path's `data`. */
export type PageItem<P extends PaginatedPath> = JsonOk<GetOperation<P>> extends { data: (infer T)[] } ? T : never;

/** PaginateInit: the list's filters (its query less `cursor`), its path parameters, an abort signal. */
export interface PaginateInit<P extends PaginatedPath> {
  query?: Omit<QueryOf<GetOperation<P>>, "cursor">;
  path?: PathParamsOf<GetOperation<P>>;
  signal?: AbortSignal;
}

/** Page is one page of a list as the plane answers it. */
interface Page<T> {
  data: T[];
  nextCursor?: string | null;
  hasMore?: boolean;
}

/**
 * Baseplate is the typed client: openapi-fetch's `GET`, `POST`, `PUT`, `PATCH`, `DELETE` over every
 * path of the API document (answers `{ data, error, response }`; use `unwrap` to get the data or a
 * thrown BaseplateProblem), plus `paginate` and `events`.
 */
export interface Baseplate extends Client<paths> {
  /** baseUrl: the plane's address this client talks to. */
  readonly baseUrl: string;
  /**
   * paginate iterates over every item of a list, fetching the next page (`cursor` = the previous
   * page's `nextCursor`) only when the previous one is consumed. Stops at the last page; a failed
   * page throws its BaseplateProblem. `query.limit` sets the page size.
   */
  paginate<P extends PaginatedPath>(path: P, init?: PaginateInit<P>): AsyncGenerator<PageItem<P>, void, undefined>;
  /** events follows the event stream with resume and reconnect (see streamEvents). */
  events(options?: EventStreamOptions): AsyncGenerator<StreamedEvent, void, undefined>;
}

/**
 * createBaseplate returns a client for one plane and credential. Every POST carries an
 * `Idempotency-Key`; failed attempts are retried as createTransport describes.
 *
 * ```ts
 * const bp = createBaseplate({ baseUrl: "http://127.0.0.1:8080", token: process.env.BASEPLATE_SECRET_KEY });
 * const tenant = await unwrap(bp.POST("/v1/tenants", { body: { name: "Acme" } }));
 * ```
 */
export function createBaseplate(options: BaseplateOptions = {}): Baseplate {
  const baseUrl = (options.baseUrl ?? process.env.BASEPLATE_URL ?? "").replace(/\/+$/, "");
  if (!baseUrl) throw new TypeError("createBaseplate needs a baseUrl (or BASEPLATE_URL).");
  const transport = createTransport(options);
  const client = createClient<paths>({ baseUrl, fetch: transport });
  async function* paginate<P extends PaginatedPath>(
    path: P,
    init: PaginateInit<P> = {},
  ): AsyncGenerator<PageItem<P>, void, undefined> {
    let cursor: string | undefined;
    for (;;) {
      const query = { ...(init.query as object), ...(cursor ? { cursor } : {}) };
      const page = (await unwrap(
        client.GET(
          path as never,
          {
            params: { query, ...(init.path ? { path: init.path } : {}) },
            ...(init.signal ? { signal: init.signal } : {}),
          } as never,
        ),
      )) as Page<PageItem<P>>;
      for (const item of page.data) yield item;
      if (!page.nextCursor || page.hasMore === false) return;
      cursor = page.nextCursor;
    }
  }
  return Object.assign(client, {
    baseUrl,
    paginate,
    events: (streamOptions: EventStreamOptions = {}) => streamEvents({ baseUrl, fetch: transport }, streamOptions),
  });
}
