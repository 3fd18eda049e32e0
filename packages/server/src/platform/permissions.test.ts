import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { exceeding, intersectPermissions, PermissionSet, permits } from "./permissions.js";

// Permission semantics, table-driven: what each pattern grants, the compiled set agreeing with
// `permits`, and the intersection used for agent keys being exact.

const GRANTS: Array<[granted: string[], required: string, allowed: boolean]> = [
  [["*"], "invoices:read", true],
  [["invoices:*"], "invoices:read", true],
  [["invoices:*"], "invoice:read", false],
  [["invoices:*"], "reports:read", false],
  [["*:read"], "invoices:read", true],
  [["*:read"], "invoices:write", false],
  [["invoices:read"], "invoices:read", true],
  [["invoices:read"], "invoices:readall", false],
  [["invoices:read"], "invoices:*", false],
  [[], "invoices:read", false],
  [["invoices:read", "reports:*"], "reports:export", true],
  [["*"], "nonsense", false],
];

describe("permission patterns", () => {
  it.each(GRANTS)("%j grants %s: %s", (granted, required, allowed) => {
    expect(permits(granted, required)).toBe(allowed);
    expect(new PermissionSet(granted).has(required)).toBe(allowed);
  });

  it("exceeding names what a grant adds beyond a ceiling, pattern by pattern", () => {
    expect(exceeding(["invoices:read"], ["invoices:*"])).toEqual([]);
    expect(exceeding(["invoices:*"], ["invoices:read"])).toEqual(["invoices:*"]);
    expect(exceeding(["*"], ["invoices:*", "*:read"])).toEqual(["*"]);
    expect(exceeding(["*:read"], ["invoices:*"])).toEqual(["*:read"]);
    expect(exceeding(["members:read", "keys:create"], ["members:*"])).toEqual(["keys:create"]);
  });

  const resource = fc.constantFrom("invoices", "reports", "members", "*");
  const action = fc.constantFrom("read", "write", "export", "*");
  const pattern = fc.tuple(resource, action).map(([r, a]) => (r === "*" && a === "*" ? "*" : `${r}:${a}`));
  const concrete = fc
    .tuple(
      fc.constantFrom("invoices", "reports", "members", "files"),
      fc.constantFrom("read", "write", "export", "delete"),
    )
    .map(([r, a]) => `${r}:${a}`);

  it("intersectPermissions is exact: it grants p iff both sides grant p", () => {
    fc.assert(
      fc.property(fc.array(pattern, { maxLength: 5 }), fc.array(pattern, { maxLength: 5 }), concrete, (a, b, p) => {
        expect(permits(intersectPermissions(a, b), p)).toBe(permits(a, p) && permits(b, p));
      }),
      { numRuns: 2000 },
    );
  });

  it("PermissionSet agrees with permits on random grants", () => {
    fc.assert(
      fc.property(fc.array(pattern, { maxLength: 6 }), concrete, (granted, p) => {
        expect(new PermissionSet(granted).has(p)).toBe(permits(granted, p));
      }),
      { numRuns: 2000 },
    );
  });
});
