/**
 * Canonical JSON: RFC 8785 (JCS) for the JSON values the plane encodes (object keys sorted by
 * UTF-16 code units, no whitespace, strings and numbers as ECMAScript `JSON.stringify` writes
 * them; members whose value is `undefined` are left out). One encoder for every fingerprint and
 * hash of the plane (audit entries and checkpoints, idempotency request fingerprints). It depends
 * on nothing, so offline verifiers can use it too.
 */

/** canonicalJson encodes a JSON value canonically. Throws a TypeError on non-JSON values (non-finite numbers, functions, …). */
export function canonicalJson(value: unknown): string {
  if (value === null) return "null";
  switch (typeof value) {
    case "string":
    case "boolean":
      return JSON.stringify(value);
    case "number":
      if (!Number.isFinite(value)) throw new TypeError("canonicalJson: non-finite number");
      return JSON.stringify(value);
    case "object": {
      if (Array.isArray(value)) {
        let out = "[";
        for (let i = 0; i < value.length; i++) {
          if (i > 0) out += ",";
          out += value[i] === undefined ? "null" : canonicalJson(value[i]);
        }
        return `${out}]`;
      }
      const record = value as Record<string, unknown>;
      const keys = Object.keys(record).sort();
      let out = "{";
      let first = true;
      for (const key of keys) {
        const inner = record[key];
        if (inner === undefined) continue;
        if (!first) out += ",";
        first = false;
        out += `${JSON.stringify(key)}:${canonicalJson(inner)}`;
      }
      return `${out}}`;
    }
    default:
      throw new TypeError(`canonicalJson: cannot encode a ${typeof value}`);
  }
}
