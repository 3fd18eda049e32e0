import { generate } from "otplib";
import { expect } from "vitest";
import { type AuditEntryTable, auditModule, entryOfRow } from "../modules/audit/index.js";
import type { TestClock } from "../platform/clock.js";
import { type SeededPlane, TEST_PASSWORD } from "./fixtures.js";
import type { TestApp } from "./harness.js";

/** totpCode: the code of `secret` at `epochMs`, `steps` 30-second steps later (negative: earlier). */
export function totpCode(secret: string, epochMs: number, steps = 0): Promise<string> {
  return generate({ secret, epoch: Math.floor(epochMs / 1000) + steps * 30 });
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** Enrolled: a user with an active TOTP factor, its secret and its recovery codes. */
export interface Enrolled {
  userId: string;
  email: string;
  token: string;
  sessionId: string;
  factorId: string;
  secret: string;
  recoveryCodes: string[];
}

/**
 * MfaClient drives the MFA routes of a test plane (environment `a` of `seedPlane`) on a test
 * clock: users, logins, enrolment, challenges, policies.
 */
export class MfaClient {
  #n = 0;

  constructor(
    readonly t: TestApp,
    readonly p: SeededPlane,
    readonly clock: TestClock,
  ) {}

  code(secret: string, steps = 0): Promise<string> {
    return totpCode(secret, this.clock.now(), steps);
  }

  /** nextStep moves the clock to the start of the next 30-second step (a fresh TOTP code). */
  nextStep(): void {
    this.clock.set((Math.floor(this.clock.now() / 30_000) + 1) * 30_000);
  }

  async createUser(label = "user", key = this.p.a.secretKey): Promise<{ id: string; email: string }> {
    const email = `${label}-${++this.#n}@example.com`;
    const res = await this.t.inject({
      method: "POST",
      url: "/v1/users",
      headers: bearer(key),
      payload: { email, password: TEST_PASSWORD },
    });
    expect(res.statusCode, res.body).toBe(201);
    return { id: res.json().id, email };
  }

  login(email: string, surfaceId = this.p.a.surfaceId) {
    return this.t.inject({
      method: "POST",
      url: "/v1/auth/login",
      payload: { surfaceId, email, password: TEST_PASSWORD },
    });
  }

  /** session logs in a user who has no second factor due, and returns the session token and id. */
  async session(email: string): Promise<{ token: string; sessionId: string }> {
    const res = await this.login(email);
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json().mfaRequired, res.body).toBeUndefined();
    return { token: res.json().token, sessionId: res.json().session.id };
  }

  /** challenge logs in a user with a second factor due and returns the challenge. */
  async challenge(email: string, surfaceId = this.p.a.surfaceId) {
    const res = await this.login(email, surfaceId);
    expect(res.statusCode, res.body).toBe(201);
    const body = res.json();
    expect(body.mfaRequired, res.body).toBe(true);
    expect(body.token).toBeUndefined();
    return body as { challengeToken: string; purpose: string; methods: string[]; expiresAt: number };
  }

  verify(challengeToken: string, proof: Record<string, unknown>, surfaceId = this.p.a.surfaceId) {
    return this.t.inject({
      method: "POST",
      url: "/v1/auth/mfa/verify",
      payload: { surfaceId, challengeToken, ...proof },
    });
  }

  post(token: string, url: string, payload?: unknown) {
    return this.t.inject({ method: "POST", url, headers: bearer(token), ...(payload ? { payload } : {}) });
  }

  stepUp(token: string, proof: Record<string, unknown>) {
    return this.post(token, "/v1/auth/mfa/step-up", proof);
  }

  /** enrol creates a user, logs it in and enrols TOTP (confirmed with the current step's code). */
  async enrol(label = "enrolled"): Promise<Enrolled> {
    const user = await this.createUser(label);
    const { token, sessionId } = await this.session(user.email);
    const started = await this.post(token, "/v1/auth/mfa/totp");
    expect(started.statusCode, started.body).toBe(201);
    const { secret, factorId, otpauthUri } = started.json();
    expect(otpauthUri).toMatch(/^otpauth:\/\/totp\//);
    const confirmed = await this.post(token, "/v1/auth/mfa/totp/confirm", { code: await this.code(secret) });
    expect(confirmed.statusCode, confirmed.body).toBe(200);
    return { userId: user.id, email: user.email, token, sessionId, factorId, secret, ...confirmed.json() };
  }

  /** signIn completes a login of an enrolled user with a TOTP code of the next step; returns the session token. */
  async signIn(user: Enrolled): Promise<string> {
    const { challengeToken } = await this.challenge(user.email);
    this.nextStep();
    const res = await this.verify(challengeToken, { code: await this.code(user.secret) });
    expect(res.statusCode, res.body).toBe(201);
    return res.json().token;
  }

  async setPolicy(mfa: Record<string, unknown>, surfaceId = this.p.a.surfaceId): Promise<void> {
    const res = await this.t.inject({
      method: "PATCH",
      url: `/v1/surfaces/${surfaceId}/auth-settings`,
      headers: bearer(this.p.a.secretKey),
      payload: { mfa },
    });
    expect(res.statusCode, res.body).toBe(200);
  }

  /** tenantOwnedBy creates a tenant and makes `userId` its owner (as the secret key). */
  async tenantOwnedBy(userId: string, roles = ["owner"]): Promise<{ tenantId: string; membershipId: string }> {
    const tenant = await this.post(this.p.a.secretKey, "/v1/tenants", { name: `Tenant ${++this.#n}` });
    expect(tenant.statusCode, tenant.body).toBe(201);
    const tenantId = tenant.json().id as string;
    const member = await this.post(this.p.a.secretKey, `/v1/tenants/${tenantId}/members`, { userId, roles });
    expect(member.statusCode, member.body).toBe(201);
    return { tenantId, membershipId: member.json().id };
  }

  /**
   * audit: the audit entries of `actions` as stored, with the personal fields the audit trail seals
   * per person opened (to check what they hold and what they do not).
   */
  async audit(actions: string[]): Promise<Array<Record<string, unknown>>> {
    const rows = (await this.t.app.db.kysely
      .selectFrom("audit_entry" as never)
      .selectAll()
      .where("action" as never, "in", actions as never)
      .orderBy("id" as never)
      .execute()) as Array<Record<string, unknown>>;
    // SQLite keeps JSON columns as text.
    const parse = (v: unknown) => (typeof v === "string" && /^[[{]/.test(v) ? JSON.parse(v) : v);
    const revealed = await this.t.app
      .service(auditModule)
      .personal.reveal(rows.map((r) => entryOfRow(r as unknown as AuditEntryTable)));
    return rows.map((r, i) => {
      const stored = Object.fromEntries(Object.entries(r).map(([k, v]) => [k, parse(v)]));
      const open = revealed[i];
      return open
        ? { ...stored, actor: open.actor, context: open.context, metadata: open.metadata, changes: open.changes }
        : stored;
    });
  }
}
