import { fileTypeFromBuffer } from "file-type";

/** SNIFF_BYTES: how much of the start of a body decides its type. */
export const SNIFF_BYTES = 4100;

/**
 * sniffType names a body's media type from its first bytes, never from the name or the type the
 * client declared: magic numbers first (`file-type`), then text. Text that a browser would run as
 * markup (HTML, SVG, XML) is named as such, so an allow-list of images refuses it and downloads
 * never render it inline. Anything else unknown is `application/octet-stream`.
 */
export async function sniffType(head: Buffer): Promise<string> {
  if (head.length === 0) return "application/octet-stream";
  const found = await fileTypeFromBuffer(head);
  if (found) {
    // file-type names XML-based formats it recognises (e.g. SVG as application/xml): keep markup visible.
    if (found.mime === "application/xml") return markupType(head) ?? "application/xml";
    return found.mime;
  }
  if (!isText(head)) return "application/octet-stream";
  return markupType(head) ?? (looksLikeJson(head) ? "application/json" : "text/plain");
}

function markupType(head: Buffer): string | null {
  const text = head
    .toString("utf8")
    .replace(/^\uFEFF/, "")
    .toLowerCase();
  if (/<svg[\s>]/.test(text)) return "image/svg+xml";
  if (/^\s*<!doctype html|<html[\s>]|<script[\s>]|<body[\s>]|<iframe[\s>]|<head[\s>]/.test(text)) return "text/html";
  if (/^\s*<\?xml/.test(text)) return "application/xml";
  return null;
}

function looksLikeJson(head: Buffer): boolean {
  const first = head.toString("utf8").trimStart()[0];
  return first === "{" || first === "[";
}

/** isText: no NUL and valid UTF-8 (a multi-byte character cut at the end of the sample is allowed). */
function isText(head: Buffer): boolean {
  if (head.includes(0)) return false;
  try {
    new TextDecoder("utf-8", { fatal: true }).decode(head.subarray(0, trimPartial(head)));
    return true;
  } catch {
    return false;
  }
}

function trimPartial(buf: Buffer): number {
  const end = buf.length;
  for (let i = 1; i <= 3 && end - i >= 0; i++) {
    const b = buf[end - i] as number;
    if ((b & 0xc0) === 0xc0) return end - i; // a lead byte whose continuation may be cut off
    if ((b & 0xc0) !== 0x80) break;
  }
  return end;
}

/**
 * typeAllowed matches a sniffed type against a bucket's allow-list (`image/*`, `application/pdf`,
 * `*` for any). An empty list allows nothing but what the bucket names, so `["*"]` is explicit.
 */
export function typeAllowed(type: string, allowed: readonly string[]): boolean {
  return allowed.some((a) => a === "*" || a === type || (a.endsWith("/*") && type.startsWith(a.slice(0, -1))));
}

/**
 * INLINE_SAFE: types a browser may render inline from this origin (they run no script). Everything
 * else, HTML, SVG and XML above all, is always served as an attachment in a sandbox.
 */
const INLINE_SAFE =
  /^(image\/(png|jpeg|gif|webp|avif|bmp)|video\/(mp4|webm|ogg)|audio\/(mpeg|ogg|wav|webm|mp4)|application\/pdf|text\/plain)$/;

export function inlineSafe(type: string): boolean {
  return INLINE_SAFE.test(type);
}
