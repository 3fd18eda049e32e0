import { StreamedBody } from "./route.js";

/**
 * Documents for people that routes serve beside their JSON (an invoice's HTML and PDF, a review
 * report's Markdown, HTML and PDF): the escaping and the policy their HTML is written and served
 * with, and the answer that carries a rendered document.
 */

/**
 * CSP_DOCUMENT: the policy an HTML document is served with: no script, no request of any kind;
 * only its own inline style. With every text escaped, nothing in it can run in the reader's browser.
 */
export const CSP_DOCUMENT =
  "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/** escapeHtml makes text safe in HTML text and quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c] as string);
}

/** documentBody answers a rendered document whole, with its length (and the caller's headers). */
export function documentBody(contentType: string, bytes: Uint8Array, headers: Record<string, string>): StreamedBody {
  async function* once() {
    yield bytes;
  }
  return new StreamedBody(contentType, once(), { ...headers, "content-length": String(bytes.length) });
}
