import { describe, expect, it } from "vitest";
import { type AnyModule, defineModule, orderModules } from "./module.js";

/** mod builds a module whose dependencies are stand-ins named `dependsOn` (resolved by name). */
const mod = (name: string, dependsOn: string[] = []): AnyModule =>
  defineModule({
    name,
    dependsOn: Object.fromEntries(
      dependsOn.map((d) => [d, defineModule({ name: d, migrations: [], createService: () => ({}) })]),
    ),
    migrations: [],
    createService: () => ({}),
  });

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

  it("refuses a dependency declared under another module's name", () => {
    const tenancy = mod("tenancy");
    const odd = defineModule({ name: "odd", dependsOn: { usage: tenancy }, migrations: [], createService: () => ({}) });
    expect(() => orderModules([tenancy, odd])).toThrow('Module "odd" declares dependency "usage" as module "tenancy"');
  });
});
