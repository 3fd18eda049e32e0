/**
 * The cross-environment / cross-tenant scenario runner (DESIGN.md §7, checklist TEN-01…TEN-03 and
 * OWASP API1/API5). It is driven by the route table (`app.http.routes`), so a module inherits the
 * whole suite by registering routes; what a module must add is its fixtures, in its own folder
 * (`modules/<name>/fixtures.ts`, see `module-fixtures.ts`): a fixture per path parameter, per
 * operator-route parameter, the bodies a schema cannot generate, documented exclusions.
 *
 * `planIsolation` reports every route it cannot check (a path parameter without a fixture, a
 * credential kind without one, a body it cannot build) so the suite fails until the fixture exists.
 *
 * This file is the runner's index; its parts live in `isolation/`: the route table, bodies from
 * zod, the world, snapshots, the fixture registry, the plan, refusals and the checks, and the
 * input sweep (`hostile.ts`: hostile requests generated from a route's schemas; `sweep.ts`: every
 * route sent them on real objects).
 */

export { sampleBody } from "./isolation/bodies.js";
export {
  CHECKS,
  checkCrossEnvironment,
  checkFunctionLevel,
  checkListIsolation,
  checkOperatorSupport,
  checkSmuggledScope,
} from "./isolation/checks.js";
export {
  BAD_TEXT,
  BAD_TEXT_IN_URL,
  DEEP,
  GENERATORS,
  type GeneratorName,
  type HostileRequest,
  HUGE,
  hostileRequests,
  LONE_SURROGATES,
  objectShape,
  queryFields,
  REFUSED_BODY,
  type RouteInput,
  requiredFields,
  SSRF_URLS,
  stringLeaves,
  urlFields,
} from "./isolation/hostile.js";
export { type CheckName, type IsolationPlan, planIsolation, type RoutePlan } from "./isolation/plan.js";
export {
  type CoverageLog,
  environmentCredentials,
  expectRefused,
  newCoverageLog,
  type RefusedCall,
} from "./isolation/refusals.js";
export {
  fixtureFileOf,
  fixturesOfApp,
  loadModuleFixtures,
  loadPlaneFixtures,
  mergeModuleFixtures,
  type PlaneFixtures,
  routeOwners,
} from "./isolation/registry.js";
export {
  acceptedActorTypes,
  acceptsEnvironmentCredentials,
  type Credential,
  type CredentialKind,
  fillUrl,
  isMutating,
  isOperatorOnly,
  loadRouteTable,
  pathParams,
  planeModules,
  routeKey,
} from "./isolation/route-table.js";
export {
  countRows,
  listTables,
  stateTables,
  type TableDiff,
  VOLATILE_COLUMNS,
} from "./isolation/snapshots.js";
export {
  type EventLoopWatch,
  newSweepContext,
  SWEEP_LIMITS,
  type SweepContext,
  type SweepFailure,
  type SweepLimits,
  type SweepResult,
  sweepRoute,
  watchEventLoop,
} from "./isolation/sweep.js";
export {
  type CallOptions,
  type CallResult,
  createIsolationWorld,
  type EnvActors,
  type EnvUser,
  type FactRow,
  factCaptureModule,
  type IsolationWorld,
  type ScratchEnvironment,
} from "./isolation/world.js";
export {
  type BodyFixture,
  type CreatedObject,
  created,
  defineModuleFixtures,
  expectJson,
  expectStatus,
  type FactCase,
  type FactExpectation,
  type FactScenario,
  findIn,
  type IsolationRegistry,
  type ModuleFixtures,
  type OperatorParamFixture,
  type ParamFixture,
  readBack,
  type SupportException,
} from "./module-fixtures.js";
