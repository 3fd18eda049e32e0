import { describe, expect, it } from "vitest";
import { OwnedCache } from "./cache.js";
import type { ChangeBus } from "./db/bus.js";

function cache() {
  const handlers = new Map<string, (owner: string) => void>();
  const bus = {
    healthy: true,
    subscribe: (topic: string, h: (owner: string) => void) => handlers.set(topic, h),
  } as unknown as ChangeBus;
  return { c: new OwnedCache<number>(bus, ["t"]), publish: (owner: string) => handlers.get("t")?.(owner) };
}

const entry = (value: number, owners: string[]) => ({ value, validUntil: 1e15, owners, cachedAt: 0 });

describe("OwnedCache", () => {
  it("drops a lookup that raced an eviction of its owner, keeps one that raced another owner's", () => {
    const { c, publish } = cache();
    const stampA = c.stamp(["a"]);
    const generation = c.generation;
    publish("b");
    c.setStamped("ka", entry(1, ["a"]), stampA);
    expect(c.get("ka", 0)?.value).toBe(1);
    // With the global generation the same race is dropped.
    c.set("kg", entry(2, ["a"]), generation);
    expect(c.get("kg", 0)).toBeNull();
    const again = c.stamp(["a"]);
    publish("a");
    c.setStamped("ka2", entry(3, ["a"]), again);
    expect(c.get("ka2", 0)).toBeNull();
    expect(c.get("ka", 0)).toBeNull();
  });

  it("a clear invalidates every stamp taken before it", () => {
    const { c, publish } = cache();
    const stamp = c.stamp(["x"]);
    publish("*");
    c.setStamped("k", entry(1, ["x"]), stamp);
    expect(c.get("k", 0)).toBeNull();
  });
});
