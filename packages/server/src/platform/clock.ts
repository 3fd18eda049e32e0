/**
 * Clock is the one source of "now" for the plane. Services never call `Date.now()` directly, so
 * tests can move time (idempotency expiry, job scheduling, session timeouts) deterministically.
 */
export interface Clock {
  /** now returns the current time in epoch milliseconds. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/**
 * TestClock is a manually driven clock for tests. It starts at the given time (default: the real
 * time at construction) and only moves when told to.
 */
export class TestClock implements Clock {
  #now: number;

  constructor(start: number = Date.now()) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  /** advance moves the clock forward by `ms` milliseconds. */
  advance(ms: number): void {
    this.#now += ms;
  }

  set(epochMs: number): void {
    this.#now = epochMs;
  }
}
