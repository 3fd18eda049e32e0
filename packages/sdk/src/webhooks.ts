import { Webhook } from "standardwebhooks";
import type { BaseplateEvent } from "./events.js";

/** WebhookHeaders: a fetch `Headers` or Node's `req.headers`. */
export type WebhookHeaders = Headers | Record<string, string | string[] | undefined>;

/** WebhookVerifyOptions: how old (or early) a delivery may be, in seconds (default 300). */
export interface WebhookVerifyOptions {
  toleranceSeconds?: number;
  /** now: the current time in ms (tests). */
  now?: number;
}

/** WebhookVerificationError says why a delivery was refused; answer it 400 and do not act on it. */
export class WebhookVerificationError extends Error {
  override readonly name = "WebhookVerificationError";
  constructor(
    readonly reason: "missing_headers" | "timestamp_too_old" | "timestamp_too_new" | "invalid_signature",
    message: string,
  ) {
    super(message);
  }
}

/** VerifiedWebhook is an authentic delivery: its message id (deduplicate on it) and its event. */
export interface VerifiedWebhook<T = BaseplateEvent> {
  /** id: the `webhook-id` header, the same on every retry of one message. */
  id: string;
  /** timestamp: when this attempt was signed. */
  timestamp: Date;
  event: T;
}

/**
 * verifyWebhook checks a Standard Webhooks delivery (`webhook-id`, `webhook-timestamp`,
 * `webhook-signature`) against the endpoint's `whsec_…` secret and returns its event, or throws a
 * WebhookVerificationError. `body` must be the raw request body, byte for byte (not re-serialised
 * JSON). During a secret rotation the plane signs with both secrets, so either verifies. The
 * timestamp must be within `toleranceSeconds` of now, which bounds how long a captured delivery can
 * be replayed; deduplicate on `id` for the rest.
 */
export function verifyWebhook<T = BaseplateEvent>(
  body: string | Uint8Array,
  headers: WebhookHeaders,
  secret: string,
  options: WebhookVerifyOptions = {},
): VerifiedWebhook<T> {
  const id = header(headers, "webhook-id");
  const stamp = header(headers, "webhook-timestamp");
  const signature = header(headers, "webhook-signature");
  if (!id || !stamp || !signature || !/^\d{1,12}$/.test(stamp)) {
    throw new WebhookVerificationError(
      "missing_headers",
      "The webhook-id, -timestamp and -signature headers are required.",
    );
  }
  const tolerance = options.toleranceSeconds ?? 300;
  const seconds = Number(stamp);
  const now = Math.floor((options.now ?? Date.now()) / 1000);
  if (now - seconds > tolerance) throw new WebhookVerificationError("timestamp_too_old", "The delivery is too old.");
  if (seconds - now > tolerance)
    throw new WebhookVerificationError("timestamp_too_new", "The delivery is from the future.");
  const webhook = new Webhook(secret);
  // NOTE: the timestamp was checked above with our tolerance; the library's own check (a fixed five
  // minutes against the real clock) is replaced on this instance only.
  Object.defineProperty(webhook, "verifyTimestamp", { value: () => new Date(seconds * 1000) });
  const payload = typeof body === "string" ? body : Buffer.from(body);
  let event: unknown;
  try {
    event = webhook.verify(payload, { "webhook-id": id, "webhook-timestamp": stamp, "webhook-signature": signature });
  } catch {
    throw new WebhookVerificationError("invalid_signature", "No signature of the delivery matches the secret.");
  }
  return { id, timestamp: new Date(seconds * 1000), event: event as T };
}

function header(headers: WebhookHeaders, name: string): string | undefined {
  if (headers instanceof Headers) return headers.get(name) ?? undefined;
  const value = headers[name] ?? headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}
