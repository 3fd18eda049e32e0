/**
 * LatencyRecorder collects latencies (ms, fractional) and answers exact percentiles. Samples are
 * kept in a growing Float64Array: a 5 s run at 50k req/s costs about 2 MB.
 */
export class LatencyRecorder {
  #values = new Float64Array(1 << 16);
  #count = 0;

  add(ms: number): void {
    if (this.#count === this.#values.length) {
      const grown = new Float64Array(this.#values.length * 2);
      grown.set(this.#values);
      this.#values = grown;
    }
    this.#values[this.#count++] = ms;
  }

  /** addAll adds every sample of `other`. */
  addAll(other: LatencyRecorder): void {
    for (const ms of other.#values.subarray(0, other.#count)) this.add(ms);
  }

  get count(): number {
    return this.#count;
  }

  /** percentiles returns the nearest-rank percentiles (0 < p ≤ 100); null when nothing was recorded. */
  percentiles<P extends number>(ps: readonly P[]): Record<P, number> | null {
    if (this.#count === 0) return null;
    const sorted = this.#values.slice(0, this.#count).sort();
    const out = {} as Record<P, number>;
    for (const p of ps) {
      const rank = Math.min(this.#count, Math.max(1, Math.ceil((p / 100) * this.#count)));
      out[p] = sorted[rank - 1] ?? Number.NaN;
    }
    return out;
  }
}
