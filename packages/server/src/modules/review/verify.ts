import { createPublicKey, type KeyObject, verify } from "node:crypto";
import { canonicalJson } from "../../platform/canonical-json.js";
import { HTML_OPEN, MD_OPEN, renderHtml, renderMarkdown } from "./render.js";
import type { SignedReview } from "./schemas.js";

/** PublicKey is one of the plane's published audit signing keys (`GET /v1/audit/public-keys`). */
export interface PublicKey {
  keyId: string;
  publicKey: string;
}

export interface ReviewVerification {
  ok: boolean;
  keyId: string | null;
  /** format: what was verified (the JSON itself, or a Markdown or HTML report around it). */
  format: "json" | "markdown" | "html";
  problem: string | null;
}

/**
 * verifyReviewText verifies a review report as written by the plane: its signed JSON (the report's
 * Ed25519 signature against the published key it names) and, for Markdown and HTML, that the text
 * around it is exactly what that JSON renders to (an edited figure fails). It never throws.
 */
/** Keys: the published keys as the API lists them, or as `auditFormat.loadPublicKeys` reads a file. */
export type Keys = readonly PublicKey[] | ReadonlyMap<string, KeyObject>;

export function verifyReviewText(text: string, keys: Keys): ReviewVerification {
  const trimmed = text.trimStart();
  let format: ReviewVerification["format"] = "json";
  let json = trimmed;
  if (trimmed.startsWith("<!doctype html>")) {
    format = "html";
    const start = text.indexOf(HTML_OPEN);
    const end = start < 0 ? -1 : text.indexOf("</script>", start);
    if (start < 0 || end < 0) return fail(format, "no signed report inside this HTML");
    json = text.slice(start + HTML_OPEN.length, end);
  } else if (trimmed.startsWith("#")) {
    format = "markdown";
    const start = text.indexOf(`${MD_OPEN}\n`);
    const end = start < 0 ? -1 : text.indexOf("\n```", start + MD_OPEN.length + 1);
    if (start < 0 || end < 0) return fail(format, "no signed report inside this Markdown");
    json = text.slice(start + MD_OPEN.length + 1, end);
  }
  let signed: SignedReview;
  try {
    signed = JSON.parse(json) as SignedReview;
  } catch {
    return fail(format, "the signed report is not valid JSON");
  }
  const result = verifyReview(signed, keys);
  if (!result.ok) return { ...result, format };
  if (format === "markdown" && renderMarkdown(signed) !== text) {
    return {
      ...result,
      ok: false,
      format,
      problem: "the Markdown text differs from what its signed report renders to",
    };
  }
  if (format === "html" && renderHtml(signed) !== text) {
    return { ...result, ok: false, format, problem: "the HTML differs from what its signed report renders to" };
  }
  return { ...result, format };
}

/** verifyReview checks a signed report's signature with the key it names. It never throws. */
export function verifyReview(signed: SignedReview, keys: Keys): ReviewVerification {
  const keyId = signed?.report?.signing?.keyId ?? null;
  if (typeof keyId !== "string" || typeof signed.signature !== "string") {
    return fail("json", "not a signed review report");
  }
  try {
    const key = keyOf(keys, keyId);
    if (!key) {
      return { ok: false, keyId, format: "json", problem: `the key ${keyId} is not among the plane's published keys` };
    }
    const ok = verify(null, Buffer.from(canonicalJson(signed.report)), key, Buffer.from(signed.signature, "base64"));
    return {
      ok,
      keyId,
      format: "json",
      problem: ok ? null : "the signature does not match the report (it was changed)",
    };
  } catch (err) {
    return { ok: false, keyId, format: "json", problem: `cannot check the signature: ${(err as Error).message}` };
  }
}

function keyOf(keys: Keys, keyId: string): KeyObject | undefined {
  if (keys instanceof Map) return (keys as ReadonlyMap<string, KeyObject>).get(keyId);
  const found = (keys as readonly PublicKey[]).find((k) => k.keyId === keyId);
  return found ? createPublicKey(found.publicKey) : undefined;
}

function fail(format: ReviewVerification["format"], problem: string): ReviewVerification {
  return { ok: false, keyId: null, format, problem };
}
