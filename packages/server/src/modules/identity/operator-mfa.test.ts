import { afterEach, beforeEach, expect, it } from "vitest";
import { TestClock } from "../../platform/clock.js";
import { type SeededPlane, seedPlane, TEST_PASSWORD } from "../../testing/fixtures.js";
import { createTestApp, describeEachEngine, type TestApp } from "../../testing/harness.js";
import { totpCode } from "../../testing/mfa.js";

// Issue 18: operators sign in to the console with a second factor. An operator turns TOTP on for
// its own account (any role), sign-in then takes a code (one use each; recovery codes once each),
// turning it off takes a code, an admin can remove another operator's (a lost device) with a
// reason, and every change is in the plane's audit chain.

type Json = Record<string, unknown>;

describeEachEngine("operator two-factor sign-in", (engine) => {
  let t: TestApp;
  let p: SeededPlane;
  let clock: TestClock;

  beforeEach(async () => {
    clock = new TestClock(Date.UTC(2026, 11, 7, 9));
    t = await createTestApp(engine, { plane: true, clock });
    p = await seedPlane(t);
  });
  afterEach(async () => t.close());

  async function call(token: string | null, method: "GET" | "POST", url: string, body?: unknown) {
    const res = await t.inject({
      method,
      url,
      headers: token ? { authorization: `Bearer ${token}` } : {},
      ...(body === undefined ? {} : { payload: body as Json }),
    });
    return { status: res.statusCode, body: (res.body ? JSON.parse(res.body) : {}) as Json };
  }
  const login = (email: string, code?: string) =>
    call(null, "POST", "/v1/operator/login", { email, password: TEST_PASSWORD, ...(code ? { code } : {}) });
  const code = (secret: string, steps = 0) => totpCode(secret, clock.now(), steps);
  const planeActions = async () =>
    (
      await t.app.db.kysely
        .selectFrom("probe_fact")
        .select(["type", "actor_id"])
        .where("type", "in", ["operator.mfa_enabled", "operator.recovery_codes_replaced", "operator.mfa_disabled"])
        .orderBy("id")
        .execute()
    ).map((f) => `${f.type}:${f.actor_id}`);

  /** enrol turns TOTP on for the operator of `token`; returns the secret and the recovery codes. */
  async function enrol(token: string): Promise<{ secret: string; recoveryCodes: string[] }> {
    const started = await call(token, "POST", "/v1/operator/mfa/totp");
    expect(started.status, JSON.stringify(started.body)).toBe(201);
    const secret = started.body.secret as string;
    expect(started.body.otpauthUri).toMatch(/^otpauth:\/\/totp\/Baseplate:.*secret=/);
    // Pending: sign-in does not ask for a code yet.
    expect((await call(token, "GET", "/v1/operator/mfa")).body).toMatchObject({ enabled: false, pending: true });
    const wrong = await call(token, "POST", "/v1/operator/mfa/totp/confirm", { code: "000000" });
    expect(wrong.body.code).toBe("invalid_mfa_code");
    const confirmed = await call(token, "POST", "/v1/operator/mfa/totp/confirm", { code: await code(secret) });
    expect(confirmed.status, JSON.stringify(confirmed.body)).toBe(200);
    const recoveryCodes = confirmed.body.recoveryCodes as string[];
    expect(recoveryCodes).toHaveLength(10);
    clock.advance(30_000);
    return { secret, recoveryCodes };
  }

  it("once on, sign-in takes a code: each TOTP code and each recovery code works once", async () => {
    const { secret, recoveryCodes } = await enrol(p.operatorToken);
    expect((await call(p.operatorToken, "GET", "/v1/operator/mfa")).body).toMatchObject({
      operatorId: p.operatorId,
      enabled: true,
      pending: false,
      recoveryCodesLeft: 10,
    });
    const listed = (await call(p.operatorToken, "GET", "/v1/operators")).body.data as Json[];
    expect(listed.find((o) => o.id === p.operatorId)?.mfa).toBe(true);

    // The password alone is not enough, and says what is missing; a wrong code opens nothing.
    const bare = await login("admin@example.com");
    expect(bare.status).toBe(401);
    expect(bare.body.code).toBe("mfa_required");
    expect(bare.body.token).toBeUndefined();
    expect((await login("admin@example.com", "123456")).body.code).toBe("invalid_mfa_code");
    // A wrong password with a right code is still a wrong login (nothing about the factor leaks).
    const wrongPassword = await call(null, "POST", "/v1/operator/login", {
      email: "admin@example.com",
      password: "not the password at all",
      code: await code(secret),
    });
    expect(wrongPassword.body.code).toBe("invalid_login");

    const now = await code(secret);
    const signedIn = await login("admin@example.com", now);
    expect(signedIn.status, JSON.stringify(signedIn.body)).toBe(201);
    expect(signedIn.body.operator).toMatchObject({ mfa: true });
    // The same code again (a replay within its 30 s) is refused.
    expect((await login("admin@example.com", now)).body.code).toBe("invalid_mfa_code");

    // A recovery code, typed loosely, works once.
    const recovery = recoveryCodes[0] as string;
    expect((await login("admin@example.com", ` ${recovery.toUpperCase()} `)).status).toBe(201);
    expect((await login("admin@example.com", recovery)).body.code).toBe("invalid_mfa_code");
    expect((await call(p.operatorToken, "GET", "/v1/operator/mfa")).body.recoveryCodesLeft).toBe(9);
  });

  it("two sign-ins racing with one code: exactly one opens a session", async () => {
    const { secret } = await enrol(p.operatorToken);
    const one = await code(secret);
    // Eight tries are left of the operator's ten (enrolment spent two); the rest are limited.
    const answers = await Promise.all(Array.from({ length: 20 }, () => login("admin@example.com", one)));
    const codes = answers.map((a) => a.body.code ?? a.status);
    expect(
      answers.filter((a) => a.status === 201),
      JSON.stringify(codes),
    ).toHaveLength(1);
    expect(codes.filter((c) => c === "invalid_mfa_code").length, JSON.stringify(codes)).toBeGreaterThan(0);
    expect(
      codes.every((c) => c === 201 || c === "invalid_mfa_code" || String(c).startsWith("too_many_")),
      JSON.stringify(codes),
    ).toBe(true);
  });

  it("wrong codes are limited per operator (429), even with the right password", async () => {
    const first = await enrol(p.operatorToken);
    const enrolled = async () => first;
    const codes: string[] = [];
    for (let i = 0; i < 10; i++) codes.push(String((await login("admin@example.com", "111111")).body.code));
    // Ten attempts per 15 minutes, the enrolment's two included.
    expect(
      codes.slice(0, 8).every((c) => c === "invalid_mfa_code"),
      JSON.stringify(codes),
    ).toBe(true);
    expect(codes.slice(8)).toEqual(["too_many_attempts", "too_many_attempts"]);
    // While limited, even the right code is refused; the window passes and it works.
    const { secret } = await enrolled();
    expect((await login("admin@example.com", await code(secret))).body.code).toBe("too_many_attempts");
    clock.advance(15 * 60_000);
    expect((await login("admin@example.com", await code(secret))).status).toBe(201);
  });

  it("turning it off and replacing recovery codes take a current code; the plane's audit chain records each", async () => {
    const { secret, recoveryCodes } = await enrol(p.operatorToken);
    expect((await call(p.operatorToken, "POST", "/v1/operator/mfa/totp")).body.code).toBe("mfa_already_enrolled");
    expect((await call(p.operatorToken, "POST", "/v1/operator/mfa/disable", { code: "999999" })).body.code).toBe(
      "invalid_mfa_code",
    );
    const replaced = await call(p.operatorToken, "POST", "/v1/operator/mfa/recovery-codes", {
      code: await code(secret),
    });
    expect(replaced.status, JSON.stringify(replaced.body)).toBe(200);
    const fresh = replaced.body.recoveryCodes as string[];
    // The earlier codes stopped working.
    expect(
      (await call(p.operatorToken, "POST", "/v1/operator/mfa/disable", { code: recoveryCodes[1] })).body.code,
    ).toBe("invalid_mfa_code");
    const off = await call(p.operatorToken, "POST", "/v1/operator/mfa/disable", { code: fresh[0] });
    expect(off.status, JSON.stringify(off.body)).toBe(200);
    expect(off.body).toMatchObject({ enabled: false, recoveryCodesLeft: 0 });
    expect((await login("admin@example.com")).status).toBe(201);
    expect(await planeActions()).toEqual([
      `operator.mfa_enabled:${p.operatorId}`,
      `operator.recovery_codes_replaced:${p.operatorId}`,
      `operator.mfa_disabled:${p.operatorId}`,
    ]);
    // The plane's audit chain holds them, readable over HTTP.
    const audit = await call(p.operatorToken, "GET", "/v1/operator/audit/entries?limit=100");
    const actions = (audit.body.data as Json[]).map((e) => e.action);
    expect(actions).toEqual(
      expect.arrayContaining(["operator.mfa_enabled", "operator.recovery_codes_replaced", "operator.mfa_disabled"]),
    );
  });

  it("a support operator secures its own account; an admin resets another's with a reason, never its own", async () => {
    const created = await call(p.operatorToken, "POST", "/v1/operators", {
      email: "help@example.com",
      name: "Help",
      role: "support",
      password: TEST_PASSWORD,
    });
    expect(created.status).toBe(201);
    const supportId = created.body.id as string;
    const session = (await login("help@example.com")).body.token as string;
    const { secret } = await enrol(session);
    expect((await login("help@example.com")).body.code).toBe("mfa_required");
    // Support cannot reset anyone's; an admin cannot reset its own (it turns it off with a code).
    expect(
      (await call(session, "POST", `/v1/operators/${p.operatorId}/mfa/reset`, { reason: "lost phone" })).status,
    ).toBe(403);
    expect(
      (await call(p.operatorToken, "POST", `/v1/operators/${p.operatorId}/mfa/reset`, { reason: "lost phone" })).status,
    ).toBe(400);
    expect((await call(p.operatorToken, "POST", `/v1/operators/${supportId}/mfa/reset`, {})).body.code).toBe(
      "validation_failed",
    );
    const reset = await call(p.operatorToken, "POST", `/v1/operators/${supportId}/mfa/reset`, {
      reason: "Lost phone, identity checked on a call (ticket 77)",
    });
    expect(reset.status, JSON.stringify(reset.body)).toBe(200);
    expect(reset.body).toMatchObject({ operatorId: supportId, enabled: false });
    expect((await login("help@example.com")).status).toBe(201);
    expect((await login("help@example.com", await code(secret, 1))).status).toBe(201);
    const again = await call(p.operatorToken, "POST", `/v1/operators/${supportId}/mfa/reset`, { reason: "again" });
    expect(again.body.code).toBe("mfa_not_enrolled");
    const audit = await call(p.operatorToken, "GET", "/v1/operator/audit/entries?action=operator.mfa_reset");
    const entries = audit.body.data as Json[];
    expect(entries).toHaveLength(1);
    expect(entries[0]?.actor).toMatchObject({ type: "operator", id: p.operatorId });
    expect(JSON.stringify(entries[0])).toContain("ticket 77");
  });
});
