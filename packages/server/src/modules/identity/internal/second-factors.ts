import type { Tx } from "../../../platform/db/db.js";
import type { ActionContext } from "../../../platform/principal.js";

/** SecondFactorSubject: whose second factor is being checked, and through which surface. */
export interface SecondFactorSubject {
  environmentId: string;
  userId: string;
  surfaceId: string;
}

/** SecondFactorProof: what the client showed (`code` for TOTP and recovery codes, `response` for others). */
export interface SecondFactorProof {
  method: string;
  code?: string;
  response?: Record<string, unknown>;
}

/**
 * SecondFactorVerifier is one way to show a second factor (TOTP, recovery codes; passkeys plug in
 * the same way). `verify` runs inside the write that opens the session or marks the step-up, and
 * must consume what it accepts with a conditional update there (a code, a counter), so two
 * requests racing with one proof cannot both pass. It answers false for a wrong proof and never
 * throws for one.
 */
export interface SecondFactorVerifier {
  /** method is the name clients see in a challenge's `methods` and send back (`totp`, `passkey`). */
  readonly method: string;
  /** enrols: holding this method makes the user enrolled in MFA (recovery codes do not). */
  readonly enrols: boolean;
  /** available answers whether the user can show this method now. */
  available(subject: SecondFactorSubject, tx?: Tx): Promise<boolean>;
  /**
   * options returns what a client needs to answer a challenge with this method (e.g. WebAuthn
   * request options bound to `challengeId`), or undefined when nothing.
   */
  options?(tx: Tx, subject: SecondFactorSubject, challengeId: string): Promise<Record<string, unknown> | undefined>;
  verify(tx: Tx, ctx: ActionContext, subject: SecondFactorSubject, proof: SecondFactorProof): Promise<boolean>;
}

/** SecondFactors is the registry of verifiers, in the order their methods are offered. */
export class SecondFactors {
  readonly #verifiers = new Map<string, SecondFactorVerifier>();

  /** register adds a method. Throws when a method of that name is registered already. */
  register(verifier: SecondFactorVerifier): void {
    if (this.#verifiers.has(verifier.method)) throw new Error(`Second factor "${verifier.method}" registered twice`);
    this.#verifiers.set(verifier.method, verifier);
  }

  get(method: string): SecondFactorVerifier | undefined {
    return this.#verifiers.get(method);
  }

  /** methods lists what `subject` can show now (recovery codes only next to a factor that enrols). */
  async methods(subject: SecondFactorSubject, tx?: Tx): Promise<string[]> {
    const out: string[] = [];
    let enrolled = false;
    for (const v of this.#verifiers.values()) {
      if (!(await v.available(subject, tx))) continue;
      out.push(v.method);
      enrolled ||= v.enrols;
    }
    return enrolled ? out : [];
  }

  /** enrolled answers whether `subject` holds a factor that enrols. */
  async enrolled(subject: SecondFactorSubject, tx?: Tx): Promise<boolean> {
    for (const v of this.#verifiers.values()) if (v.enrols && (await v.available(subject, tx))) return true;
    return false;
  }
}
