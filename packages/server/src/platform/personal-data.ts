import type { Db, Tx } from "./db/db.js";

/** DataSubject is the person an access request or an erasure is about: an end user of an environment. */
export interface DataSubject {
  environmentId: string;
  userId: string;
  /** email is the address the user had when the request began (invitations are kept by address). */
  email: string;
}

/**
 * PersonalDataProvider is one module's part of a data subject request: `export` lists what the
 * module holds about the person (JSON), `erase` removes or anonymises it inside the erasure's
 * transaction and returns how many records of each kind it touched. Each module knows its own
 * tables; the identity module runs the request (DELETE /v1/users/:id, GET /v1/users/:id/export).
 */
export interface PersonalDataProvider {
  export?(db: Db, subject: DataSubject): Promise<Record<string, unknown>>;
  erase?(tx: Tx, subject: DataSubject): Promise<Record<string, number>>;
}

/** PersonalDataRegistry collects the modules' providers, in module dependency order. */
export class PersonalDataRegistry {
  readonly #providers: Array<{ module: string; provider: PersonalDataProvider }> = [];

  register(module: string, provider: PersonalDataProvider): void {
    this.#providers.push({ module, provider });
  }

  /** exportAll gathers every module's export, keyed by module name. */
  async exportAll(db: Db, subject: DataSubject): Promise<Record<string, Record<string, unknown>>> {
    const out: Record<string, Record<string, unknown>> = {};
    for (const { module, provider } of this.#providers) {
      if (provider.export) out[module] = await provider.export(db, subject);
    }
    return out;
  }

  /**
   * eraseAll runs every module's erasure in `tx`, in reverse dependency order (modules built on
   * others first), and returns the counts as `module.kind`.
   */
  async eraseAll(tx: Tx, subject: DataSubject): Promise<Record<string, number>> {
    const counts: Record<string, number> = {};
    for (const { module, provider } of [...this.#providers].reverse()) {
      if (!provider.erase) continue;
      for (const [kind, n] of Object.entries(await provider.erase(tx, subject))) counts[`${module}.${kind}`] = n;
    }
    return counts;
  }
}
