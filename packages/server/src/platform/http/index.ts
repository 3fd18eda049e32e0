export type { CredentialResolver } from "./credentials.js";
export { CredentialResolvers } from "./credentials.js";
export { Metrics } from "./metrics.js";
export { buildOpenApiDocument } from "./openapi.js";
export type { Keyset, Page, PageQuery } from "./pagination.js";
export {
  afterIdCursor,
  decodeCursor,
  encodeCursor,
  keysetPage,
  pageById,
  pageSchema,
  paginationQuery,
  toPage,
} from "./pagination.js";
export type { Problem } from "./problem.js";
export { PROBLEM_CONTENT_TYPE, problemType, toProblem } from "./problem.js";
export type { HandlerInput, HttpMethod, RouteAuth, RouteDefinition } from "./route.js";
export { AUTH, defineRoute } from "./route.js";
export { Id, iso, isoOrNull, Timestamp, TimestampInput, TimestampQuery } from "./schemas.js";
export { HttpServer } from "./server.js";
