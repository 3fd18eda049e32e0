import { AppError, PlatformErrors } from "../errors.js";

/**
 * Bounds on client input that apply before any handler runs (DESIGN.md §4): how deeply a JSON body
 * may nest, and which text the plane accepts. Both engines store exactly what was accepted, so a
 * value that one engine would refuse or mangle is refused here, for every route, as a 400 problem.
 */

/** MAX_JSON_DEPTH is how deeply a JSON request body may nest (objects and arrays). */
export const MAX_JSON_DEPTH = 32;

/**
 * jsonDepthExceeds reports whether `text` (a JSON document) nests deeper than `limit`, by one scan
 * of its brackets outside strings: no recursion, and no parse of a document that will be refused.
 */
export function jsonDepthExceeds(text: string, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c /* \ */) i++;
      else if (c === 0x22 /* " */) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      if (++depth > limit) return true;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      depth--;
    }
  }
  return false;
}

/** tooDeep is the problem for a body nested past MAX_JSON_DEPTH. */
export function tooDeep(): AppError {
  const message = `must not nest more than ${MAX_JSON_DEPTH} levels of objects and arrays`;
  return new AppError(PlatformErrors.validation_failed, `body: ${message}`, {
    errors: [{ path: "body", message, code: "too_deep" }],
  });
}

/** hasLoneSurrogate reports whether `s` holds a UTF-16 surrogate that is not part of a pair (not valid Unicode). */
export function hasLoneSurrogate(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0xd800 || c > 0xdfff) continue;
    if (c <= 0xdbff) {
      const next = s.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        i++;
        continue;
      }
    }
    return true;
  }
  return false;
}

/** invalidText says why a string cannot be stored as text on every engine, or null when it can. */
function invalidText(s: string): string | null {
  if (s.includes("\u0000")) return "must not contain the NUL character (U+0000)";
  if (hasLoneSurrogate(s)) return "must be valid Unicode (it holds a lone UTF-16 surrogate)";
  return null;
}

/**
 * findInvalidText returns the dotted path (under `root`) of the first string or object key in
 * `value` that cannot be stored as text on both engines (a NUL character: PostgreSQL text and jsonb
 * refuse it; a lone surrogate: PostgreSQL's json refuses it and SQLite would store U+FFFD), with
 * the reason, or null. Iterative: no input can overflow the stack.
 */
export function findInvalidText(value: unknown, root: string): { path: string; message: string } | null {
  const stack: Array<[unknown, string]> = [[value, root]];
  while (stack.length > 0) {
    const [node, path] = stack.pop() as [unknown, string];
    if (typeof node === "string") {
      const message = invalidText(node);
      if (message) return { path, message };
    } else if (node !== null && typeof node === "object") {
      for (const [key, child] of Object.entries(node)) {
        const childPath = path ? `${path}.${key}` : key;
        const message = invalidText(key);
        if (message) return { path: path || key, message };
        stack.push([child, childPath]);
      }
    }
  }
  return null;
}
