import type { ZodType, z } from "zod";
import type { Clock } from "../clock.js";
import type { Tx } from "../db/db.js";
import { newId } from "../ids.js";
import type { ActionContext, Principal, RequestInfo } from "../principal.js";

/** FactInput is what a service declares about a mutation it is making (DESIGN.md §2). */
export interface FactInput {
  /** type is `noun.past_verb`, e.g. `tenant.suspended`. */
  type: string;
  /** environmentId of the affected data; defaults to the principal's environment. */
  environmentId?: string | null;
  tenantId?: string | null;
  targets: Array<{ type: string; id: string }>;
  /** data is the fact's payload. Never secrets: keys that look like credentials are refused. */
  data?: Record<string, unknown>;
  /** changes holds before/after values of updated fields. */
  changes?: { before: Record<string, unknown>; after: Record<string, unknown> };
}

/** Fact is a recorded fact as sinks receive it. */
export interface Fact extends Required<Omit<FactInput, "environmentId" | "tenantId" | "changes">> {
  id: string;
  occurredAt: number;
  environmentId: string | null;
  tenantId: string | null;
  actor: Principal | null;
  request: RequestInfo;
  changes: FactInput["changes"] | null;
}

/** DeclaredFactType is a fact type a module declared (`ModuleDefinition.facts`). */
export interface DeclaredFactType {
  type: string;
  module: string;
  description: string;
  data?: ZodType;
}

/** FactSink projects a fact into its own tables, on the caller's transaction. */
export type FactSink = (tx: Tx, fact: Fact) => Promise<void>;

const TYPE = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*\.[a-z][a-z0-9_]*$/;
/** CREDENTIAL_LIKE_KEY matches the object keys a fact refuses to carry. */
const CREDENTIAL_LIKE_KEY =
  /^(password|passwd|pass|secret|token|api_?key|private_?key|authorization|cookie)$|(password|secret|token)$/i;

/**
 * FactRecorder records facts inside the caller's transaction and hands them to every registered
 * sink (audit, events, a test's probe) on that same transaction: the change, its audit entry and
 * its outbox event commit together or not at all.
 */
export class FactRecorder {
  readonly #sinks: Array<{ name: string; sink: FactSink }> = [];
  readonly #declared = new Map<string, DeclaredFactType>();

  constructor(private readonly clock: Clock) {}

  /** declare lists the fact types a module records. Throws when two modules declare one type. */
  declare(module: string, types: Readonly<Record<string, { description: string; data?: ZodType }>>): void {
    for (const [type, spec] of Object.entries(types)) {
      if (!TYPE.test(type)) throw new Error(`Fact type "${type}" declared by ${module} is not noun.past_verb`);
      const existing = this.#declared.get(type);
      if (existing && existing.module !== module) {
        throw new Error(`Fact type "${type}" is declared by both ${existing.module} and ${module}`);
      }
      this.#declared.set(type, {
        type,
        module,
        description: spec.description,
        ...(spec.data ? { data: spec.data } : {}),
      });
    }
  }

  /** declared returns every declared fact type, sorted by type. */
  declared(): DeclaredFactType[] {
    return [...this.#declared.values()].sort((a, b) => a.type.localeCompare(b.type));
  }

  /** registerSink adds a sink. Sinks run in registration order; a sink that throws aborts the write. */
  registerSink(name: string, sink: FactSink): void {
    if (this.#sinks.some((s) => s.name === name)) throw new Error(`Fact sink "${name}" registered twice`);
    this.#sinks.push({ name, sink });
  }

  /**
   * record validates the fact and runs every sink on `tx`. Throws (rolling the transaction back)
   * when the type is malformed, the data carries a credential-like key, or a sink fails.
   */
  async record(tx: Tx, ctx: ActionContext, input: FactInput): Promise<Fact> {
    if (!TYPE.test(input.type)) throw new Error(`Fact type "${input.type}" is not noun.past_verb`);
    assertNoSecrets(input.data, "data");
    assertNoSecrets(input.changes?.before, "changes.before");
    assertNoSecrets(input.changes?.after, "changes.after");
    const occurredAt = this.clock.now();
    const fact: Fact = {
      id: newId("fact", occurredAt),
      type: input.type,
      occurredAt,
      environmentId: input.environmentId ?? ctx.principal?.environmentId ?? null,
      tenantId: input.tenantId ?? null,
      targets: input.targets,
      data: input.data ?? {},
      changes: input.changes ?? null,
      actor: ctx.principal,
      request: ctx.request,
    };
    for (const { sink } of this.#sinks) await sink(tx, fact);
    return fact;
  }
}

function assertNoSecrets(value: unknown, path: string): void {
  const found = credentialLikeKey(value);
  if (found) throw new Error(`Fact ${[path, ...found].join(".")} looks like a credential; facts never carry secrets`);
}

/**
 * credentialLikeKey returns the path of the first key in `value` (at any depth) that looks like a
 * credential, or null. Free-form JSON (tenant metadata, user profiles) is recorded in facts on
 * update, and facts never carry secrets, so such keys are refused as bad input instead.
 */
export function credentialLikeKey(value: unknown, path: Array<string | number> = []): Array<string | number> | null {
  // Every fact's data passes here: the path is built only for the key found.
  if (value === null || typeof value !== "object") return null;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const inner: unknown = value[i];
      if (inner !== null && typeof inner === "object") {
        const found = credentialLikeKey(inner, [...path, i]);
        if (found) return found;
      }
    }
    return null;
  }
  for (const key of Object.keys(value)) {
    if (CREDENTIAL_LIKE_KEY.test(key)) return [...path, key];
    const inner = (value as Record<string, unknown>)[key];
    if (inner !== null && typeof inner === "object") {
      const found = credentialLikeKey(inner, [...path, key]);
      if (found) return found;
    }
  }
  return null;
}

/** refuseCredentialLikeKeys is a zod check for free-form JSON input: 400 naming the first credential-like key. */
export function refuseCredentialLikeKeys(value: unknown, ctx: z.RefinementCtx): void {
  const path = credentialLikeKey(value);
  if (path) {
    ctx.addIssue({
      code: "custom",
      path,
      message: "must not look like a credential (password, secret, token, …): this object is recorded in the audit log",
    });
  }
}
