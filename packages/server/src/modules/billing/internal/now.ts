import type { ModuleContext } from "../../../platform/module.js";

/**
 * billingNow is the one "now" of billing's time-driven steps after finalization: due dates,
 * payments, voids, credit notes, past due, grace and suspension. Every one of them reads the time
 * here, so a clock per environment or tenant (a test clock) plugs in at this one place. `scope`
 * names whose time it is (null: a scan over every environment).
 */
export function billingNow(m: Pick<ModuleContext, "clock">, _scope: { environmentId: string } | null): number {
  return m.clock.now();
}

/** DAY_MS: one day of net terms or grace (24 h; billing time is UTC). */
export const DAY_MS = 86_400_000;
