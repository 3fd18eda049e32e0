/**
 * @baseplate/server's public surface: the composition root, configuration, and the platform
 * contracts modules are written against.
 */

export type { AppOptions } from "./app.js";
export { App, createApp, MODULES, StartupError, VERSION } from "./app.js";
export { runCli } from "./cli/index.js";
export type { Config } from "./config.js";
export { CONFIG_VARIABLES, ConfigError, loadConfig } from "./config.js";
export { type Clock, systemClock, TestClock } from "./platform/clock.js";
export * from "./platform/db/index.js";
export type { ErrorCode, FieldError } from "./platform/errors.js";
export { AppError, defineErrors, PlatformErrors } from "./platform/errors.js";
export type { Fact, FactInput, FactSink } from "./platform/facts/index.js";
export { FactRecorder } from "./platform/facts/index.js";
export * from "./platform/http/index.js";
export type { IdFactory, IdKind, IdPrefixes } from "./platform/ids.js";
export { defineIds, IdRegistry, isId, newId, PLATFORM_ID_PREFIXES } from "./platform/ids.js";
export * from "./platform/jobs/index.js";
export type { ModuleContext, ModuleDefinition } from "./platform/module.js";
export { defineModule, orderModules } from "./platform/module.js";
export type { ActionContext, ActorType, Principal, RequestInfo } from "./platform/principal.js";
export { systemContext } from "./platform/principal.js";
