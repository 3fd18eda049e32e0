/**
 * HTTP helpers of downloads: display names, `Content-Disposition` (RFC 6266 with RFC 5987
 * `filename*`), and `Range` (RFC 9110 §14).
 */

/**
 * displayName sanitises a client-supplied name for display only (it never reaches a key or path):
 * the last path segment, no control characters (NUL included), no trailing dots or spaces,
 * normalised to NFC, at most 255 characters; `file` when nothing is left.
 */
export function displayName(raw: string | null | undefined): string {
  let name = (raw ?? "").normalize("NFC");
  name = name.split(/[/\\]/).pop() ?? "";
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is removed
  name = name.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, "");
  name = name.replace(/[. ]+$/, "").trim();
  if (name === "" || name === "." || name === "..") return "file";
  return [...name].slice(0, 255).join("");
}

/**
 * contentDisposition builds `attachment; filename="ascii"; filename*=UTF-8''percent-encoded`: old
 * clients read the ASCII fallback (quotes, backslashes and non-ASCII replaced), others the exact name.
 */
export function contentDisposition(kind: "attachment" | "inline", name: string): string {
  const fallback = name.replace(/[^\x20-\x7e]/g, "_").replace(/["\\%]/g, "_");
  const encoded = encodeURIComponent(name).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `${kind}; filename="${fallback}"; filename*=UTF-8''${encoded}`;
}

export type RangeResult =
  | { kind: "full" }
  | { kind: "partial"; start: number; end: number }
  | { kind: "unsatisfiable" };

/**
 * parseRange reads one `bytes=` range against a body of `size` bytes. A header it does not
 * understand, or several ranges, is ignored (the full body answers, as RFC 9110 allows).
 */
export function parseRange(header: string | undefined, size: number): RangeResult {
  if (header === undefined) return { kind: "full" };
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!m) return { kind: "full" };
  const [, first = "", last = ""] = m;
  if (first === "" && last === "") return { kind: "full" };
  if (first.length > 15 || last.length > 15) return { kind: "unsatisfiable" };
  if (first === "") {
    const suffix = Number(last);
    if (suffix === 0 || size === 0) return { kind: "unsatisfiable" };
    return { kind: "partial", start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  const end = last === "" ? size - 1 : Math.min(Number(last), size - 1);
  if (start >= size || (last !== "" && Number(last) < start)) return { kind: "unsatisfiable" };
  return { kind: "partial", start, end };
}

/** etagMatches: does an `If-None-Match` / `If-Range` list name `etag` (weak comparison)? */
export function etagMatches(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  if (header.trim() === "*") return true;
  return header.split(",").some((t) => t.trim().replace(/^W\//, "") === etag);
}
