import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { auditModule } from "../src/modules/audit/index.js";
import { fromJson } from "../src/platform/db/db.js";
import { describeEachEngine } from "../src/testing/harness.js";
import {
  createIsolationWorld,
  expectStatus,
  fillUrl,
  type IsolationWorld,
  isMutating,
  loadPlaneFixtures,
  routeKey,
} from "../src/testing/isolation.js";

// DESIGN.md §2, the write path: every mutation records its fact (→ audit entry + event) in its own
// transaction. This sweep makes one successful call to every mutating route of the plane and
// checks the facts it committed: `noun.past_verb` types, the acting credential's actor, the right
// environment, and no token or password anywhere in a fact; and that each fact became exactly one
// audit entry with the same action, actor, tenant and targets (so every module inherits the audit
// coverage). A new mutating route fails here until its module has a fact case for it.

/** AuditEntryRow: what the sweep reads of an audit entry. */
interface AuditEntryRow {
  id: string;
  fact_id: string | null;
  action: string;
  actor_id: string | null;
  environment_id: string | null;
  tenant_id: string | null;
  targets: Array<{ type: string; id: string }>;
}

/**
 * The cases: one successful call per mutating route, and the facts it must commit. Each module keeps
 * its own in `modules/<name>/fixtures.ts` (`facts`), or says why a route is left out
 * (`factExclusions`); the sweep finds them by module.
 */
const PLANE = await loadPlaneFixtures();
const FACT_FIXTURES = PLANE.facts;
const ROUTES = PLANE.routes.filter((route) => isMutating(route) && !PLANE.factExclusions[routeKey(route)]);

/** PAST_TENSE: irregular past participles used as fact verbs (the rest end in -ed). */
const PAST_TENSE = new Set([
  "reset",
  "set",
  "sent",
  "resent",
  "paid",
  "built",
  "run",
  "done",
  "made",
  "shown",
  "written",
]);

/** isPastTenseFact: `noun.past_verb` where some word of the verb is in the past tense. */
function isPastTenseFact(type: string): boolean {
  if (!/^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$/.test(type)) return false;
  const verb = type.slice(type.lastIndexOf(".") + 1);
  return verb.split("_").some((word) => word.endsWith("ed") || PAST_TENSE.has(word));
}

describe("facts coverage plan", () => {
  it("has a fixture for every mutating route, and none for a route that does not exist", () => {
    const keys = ROUTES.map(routeKey);
    const all = PLANE.routes.map(routeKey);
    expect(
      Object.keys(PLANE.factExclusions).filter((k) => !all.includes(k)),
      "stale exclusions",
    ).toEqual([]);
    expect(
      keys.filter((k) => !FACT_FIXTURES[k]),
      "mutating routes without a fact fixture",
    ).toEqual([]);
    expect(
      Object.keys(FACT_FIXTURES).filter((k) => !keys.includes(k)),
      "stale fixtures",
    ).toEqual([]);
  });

  it("tells past-tense fact types from others", () => {
    for (const ok of ["tenant.created", "user.logged_in", "user.password_reset", "session.revoked_others"]) {
      expect(isPastTenseFact(ok), ok).toBe(true);
    }
    for (const bad of ["tenant.create", "created", "tenant.Created", "tenant.creating", "user.login"]) {
      expect(isPastTenseFact(bad), bad).toBe(false);
    }
  });
});

describeEachEngine("facts coverage", (engine) => {
  let w: IsolationWorld;
  beforeAll(async () => {
    w = await createIsolationWorld(engine);
  });
  afterAll(async () => w?.close());

  async function auditEntries(): Promise<AuditEntryRow[]> {
    const rows = await w.t.app.db.kysely
      .selectFrom("audit_entry")
      .select(["id", "fact_id", "action", "actor_id", "environment_id", "tenant_id", "targets"])
      .execute();
    return rows.map((r) => ({ ...(r as AuditEntryRow), targets: fromJson(r.targets) }));
  }

  function expectNoSecretsIn(facts: unknown[], what: string): void {
    const needles = [...w.secrets].flatMap((s) => [s, createHash("sha256").update(s).digest("hex")]);
    for (const fact of facts) {
      const text = JSON.stringify(fact);
      const found = needles.filter((n) => text.includes(n));
      expect(found, `${what}: a fact carries a secret: ${text.slice(0, 400)}`).toEqual([]);
    }
  }

  for (const route of ROUTES) {
    const key = routeKey(route);
    it(`${key} commits its facts with the acting credential and environment`, async () => {
      const make = FACT_FIXTURES[key];
      if (!make) throw new Error(`${key} has no fact fixture: add one to its module's fixtures.ts (facts)`);
      const scenario = await make(w);
      const known = new Set((await w.facts()).map((f) => f.id));
      const knownEntries = new Set((await auditEntries()).map((e) => e.id));
      const capturedBefore = w.captured.length;
      const res = await w.call(scenario.caller, route.method, fillUrl(route.url, scenario.ids ?? {}), {
        ...(scenario.body !== undefined ? { body: scenario.body } : {}),
      });
      expectStatus(res, route.response.status, key);
      const expected = scenario.expect(res.json() as Record<string, unknown>);
      const actorId = expected.actorId ?? scenario.caller?.actorId;
      const fresh = (await w.facts()).filter((f) => !known.has(f.id));
      const product = expected.productEntries ?? [];
      expect(fresh.length + product.length, `${key} committed no fact`).toBeGreaterThan(0);
      expect(fresh.map((f) => f.type)).toEqual(expected.types);
      // Every committed fact is exactly one audit entry: same action, actor, tenant and targets.
      const entries = (await auditEntries()).filter((e) => !knownEntries.has(e.id));
      expect(entries.length, `${key}: audit entries`).toBe(fresh.length + product.length);
      const captured = new Map(w.captured.slice(capturedBefore).map((f) => [f.id, f]));
      for (const fact of fresh) {
        const mine = entries.filter((e) => e.fact_id === fact.id);
        expect(mine.length, `${fact.type}: one audit entry`).toBe(1);
        const entry = mine[0] as AuditEntryRow;
        expect(entry.action).toBe(fact.type);
        expect(entry.actor_id, `${fact.type}: audit actor`).toBe(fact.actor_id);
        expect(entry.environment_id, `${fact.type}: audit environment`).toBe(fact.environment_id);
        expect(entry.tenant_id, `${fact.type}: audit tenant`).toBe(captured.get(fact.id)?.tenantId ?? null);
        expect(entry.targets, `${fact.type}: audit targets`).toEqual(fact.targets);
      }
      const written = entries.filter((e) => e.fact_id === null);
      expect(written.map((e) => e.action)).toEqual(product);
      for (const entry of written) expect(entry.actor_id, `${entry.action}: product entry actor`).toBe(actorId);
      for (const fact of fresh) {
        expect(isPastTenseFact(fact.type), `${fact.type} is not noun.past_verb`).toBe(true);
        expect(fact.actor_id, `${fact.type}: actor`).toBe(actorId);
        expect(fact.environment_id, `${fact.type}: environment`).toBe(expected.environmentId);
        expect(fact.targets.length, `${fact.type}: targets`).toBeGreaterThan(0);
      }
      expectNoSecretsIn(w.captured.slice(capturedBefore), key);
    });
  }

  it("every fact type recorded during the whole run is declared by its module (the event catalog lists it)", () => {
    const declared = new Set(w.t.app.facts.declared().map((d) => d.type));
    const recorded = new Set(w.captured.map((f) => f.type).filter((type) => !type.startsWith("probe")));
    expect(recorded.size).toBeGreaterThan(40);
    expect([...recorded].filter((type) => !declared.has(type))).toEqual([]);
  });

  it("no fact recorded during the whole run carries a token or password the run used", () => {
    expect(w.secrets.size).toBeGreaterThan(10);
    expect(w.captured.length).toBeGreaterThan(ROUTES.length);
    expectNoSecretsIn(w.captured, "the run");
  });

  it("no audit entry stored during the whole run carries a token or password (AUD-09), and every chain verifies", async () => {
    const rows = await w.t.app.db.kysely.selectFrom("audit_entry").selectAll().execute();
    expect(rows.length).toBeGreaterThan(ROUTES.length);
    expectNoSecretsIn(rows, "the audit log");
    const audit = w.t.app.service(auditModule);
    for (const env of [w.a, w.b]) {
      const chains = await w.t.app.db.kysely
        .selectFrom("audit_chain")
        .select(["id", "tenant_id"])
        .where("environment_id", "=", env.environmentId)
        .execute();
      for (const chain of chains) {
        const result = await audit.exports.verifyChain({
          environmentId: env.environmentId,
          tenantId: chain.tenant_id as string | null,
        });
        expect(result.errors, `chain ${chain.id}`).toEqual([]);
      }
    }
  });
});
