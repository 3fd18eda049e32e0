import { describe, expect, it } from "vitest";
import { defineModule, type ModuleDefinition, orderModules } from "./module.js";

const mod = (name: string, dependsOn: string[] = []): ModuleDefinition<unknown> =>
  defineModule({ name, dependsOn, migrations: [], createService: () => ({}) });

describe("orderModules", () => {
  it("puts every module after its dependencies, keeping declaration order otherwise", () => {
    const ordered = orderModules([mod("billing", ["usage"]), mod("tenancy"), mod("usage", ["tenancy"]), mod("audit")]);
    expect(ordered.map((m) => m.name)).toEqual(["tenancy", "usage", "billing", "audit"]);
  });

  it("refuses a cycle and names it", () => {
    expect(() => orderModules([mod("a", ["b"]), mod("b", ["c"]), mod("c", ["a"])])).toThrow(
      "Module dependency cycle: a → b → c → a",
    );
  });

  it("refuses a missing dependency", () => {
    expect(() => orderModules([mod("a", ["ghost"])])).toThrow('Module "a" depends on "ghost", which is not registered');
  });

  it("refuses duplicate and malformed names", () => {
    expect(() => orderModules([mod("a"), mod("a")])).toThrow(/twice/);
    expect(() => orderModules([mod("Bad-Name")])).toThrow(/lower-case/);
  });
});
