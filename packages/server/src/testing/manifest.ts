import { expect } from "vitest";
import type { SeededPlane } from "./fixtures.js";
import type { TestApp } from "./harness.js";

/**
 * What the manifest tests (the manifest module's own and each module's section) share: calls to
 * the plane over HTTP with a bearer token, and the manifest routes (export, plan, apply) as the
 * admin operator of a seeded plane (`seedPlane`) unless told otherwise.
 */

/** Json: a JSON object as a test reads it. */
export type Json = Record<string, unknown>;

/** JsonResponse: a call's status and its JSON body. */
export interface JsonResponse {
  status: number;
  body: Json;
}

/** PlannedChange: one change of a plan (`ManifestChange` in the API). */
export interface PlannedChange {
  section: string;
  action: string;
  key: string;
  risk: string;
  summary: string;
  fields: string[];
  blocked: string | null;
  affected: Array<{ count: number; what: string }>;
}

/** ManifestPlanBody: the body of a successful `POST /v1/manifest/plan`. */
export interface ManifestPlanBody {
  liveHash: string;
  manifestHash: string;
  changes: PlannedChange[];
  summary: Record<string, number>;
  sections: string[];
}

/** ManifestExportBody: the body of a successful `GET /v1/manifest`. */
export interface ManifestExportBody {
  manifest: Record<string, Json[]>;
  liveHash: string;
  omitted: Array<{ section: string; reason: string }>;
}

/** ManifestClient: see `manifestClient`. */
export interface ManifestClient {
  /**
   * call sends a request as `token` (a bearer token), with `body` as JSON when given and the
   * `baseplate-environment` header when `env` is given.
   */
  call(token: string, method: string, url: string, body?: unknown, env?: string): Promise<JsonResponse>;
  /** op: `call` as the admin operator, in environment `env`. */
  op(method: string, url: string, env: string, body?: unknown): Promise<JsonResponse>;
  /** plan plans `manifest` in `env` as `token` (the admin operator by default) and expects a 200. */
  plan(env: string, manifest: Json, token?: string): Promise<ManifestPlanBody>;
  /** apply applies `manifest` in `env` as `token` (the admin operator by default); the caller checks the answer. */
  apply(
    env: string,
    manifest: Json,
    liveHash: string,
    allowDestructive?: boolean,
    token?: string,
  ): Promise<JsonResponse>;
  /** exportBody exports `env` as the admin operator and expects a 200: the whole answer. */
  exportBody(env: string): Promise<ManifestExportBody>;
  /** exported: the manifest `exportBody` returns; with `section`, that section's items only. */
  exported(env: string): Promise<Record<string, Json[]>>;
  exported(env: string, section: string): Promise<Json[]>;
  /** byKey: the change of `planned` keyed `key` (in `section` when given). */
  byKey(planned: ManifestPlanBody, key: string, section?: string): PlannedChange;
  /** audit: the environment's audit entries of `action` (up to 100) as `token` sees them. */
  audit(token: string, action: string): Promise<Json[]>;
}

/**
 * manifestClient calls the plane `world` returns (read at each call: tests assign it in
 * `beforeAll`). With `lenientJson`, a body that is not JSON reads as `{}` instead of failing.
 */
export function manifestClient(
  world: () => { t: TestApp; p: SeededPlane },
  options: { lenientJson?: boolean } = {},
): ManifestClient {
  async function call(token: string, method: string, url: string, body?: unknown, env?: string) {
    const res = await world().t.inject({
      method: method as "GET",
      url,
      headers: { authorization: `Bearer ${token}`, ...(env ? { "baseplate-environment": env } : {}) },
      ...(body !== undefined ? { payload: body as object } : {}),
    });
    if (!options.lenientJson) return { status: res.statusCode, body: res.json() as Json };
    let json: Json = {};
    try {
      json = res.json() as Json;
    } catch {}
    return { status: res.statusCode, body: json };
  }
  const op = (method: string, url: string, env: string, body?: unknown) =>
    call(world().p.operatorToken, method, url, body, env);
  const plan = async (env: string, manifest: Json, token = world().p.operatorToken) => {
    const res = await call(token, "POST", "/v1/manifest/plan", { manifest }, env);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return res.body as unknown as ManifestPlanBody;
  };
  const apply = (
    env: string,
    manifest: Json,
    liveHash: string,
    allowDestructive = false,
    token = world().p.operatorToken,
  ) => call(token, "POST", "/v1/manifest/apply", { manifest, liveHash, allowDestructive }, env);
  const exportBody = async (env: string) => {
    const res = await op("GET", "/v1/manifest", env);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return res.body as unknown as ManifestExportBody;
  };
  function exported(env: string): Promise<Record<string, Json[]>>;
  function exported(env: string, section: string): Promise<Json[]>;
  async function exported(env: string, section?: string) {
    const { manifest } = await exportBody(env);
    return section === undefined ? manifest : (manifest[section] as Json[]);
  }
  const byKey = (planned: ManifestPlanBody, key: string, section?: string) =>
    planned.changes.find((c) => (section === undefined || c.section === section) && c.key === key) as PlannedChange;
  const audit = async (token: string, action: string) =>
    (await call(token, "GET", `/v1/audit/entries?action=${action}&limit=100`)).body.data as Json[];
  return { call, op, plan, apply, exportBody, exported, byKey, audit };
}
