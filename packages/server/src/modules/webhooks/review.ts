import { isIP } from "node:net";
import { fromJson } from "../../platform/db/db.js";
import {
  REVIEW_TABLE_ROWS,
  type ReviewContributor,
  type ReviewPart,
  type ReviewScope,
  type ReviewValue,
  reviewDate,
  reviewTable,
} from "../../platform/review.js";
import { checkUrl, classifyAddress } from "../../platform/ssrf.js";
import { FAILING_DISABLE_MS } from "./service/delivery.js";
import { redactUrl } from "./service/endpoints.js";
import type { WebhooksService } from "./service.js";
import type { WebhooksTables } from "./tables.js";

/**
 * SSRF_PROBES are the targets the report puts to the SSRF policy as this plane runs it: one of
 * each kind of address the policy classifies, and the host names it refuses without resolving.
 */
const SSRF_PROBES: ReadonlyArray<{ target: string; kind: string }> = [
  { target: "169.254.169.254", kind: "cloud metadata service" },
  { target: "0.0.0.0", kind: "unspecified" },
  { target: "224.0.0.1", kind: "multicast" },
  { target: "127.0.0.1", kind: "loopback" },
  { target: "::1", kind: "loopback (IPv6)" },
  { target: "::ffff:127.0.0.1", kind: "IPv4-mapped loopback" },
  { target: "10.0.0.1", kind: "private (RFC 1918)" },
  { target: "172.16.0.1", kind: "private (RFC 1918)" },
  { target: "192.168.0.1", kind: "private (RFC 1918)" },
  { target: "100.64.0.1", kind: "shared address space (CGNAT)" },
  { target: "169.254.1.1", kind: "link-local" },
  { target: "fc00::1", kind: "unique local (IPv6)" },
  { target: "fe80::1", kind: "link-local (IPv6)" },
  { target: "localhost", kind: "host name" },
  { target: "intranet", kind: "single-label host name" },
  { target: "8.8.8.8", kind: "public" },
];

/** MessageHealth is an endpoint's deliveries in the period, counted as the console counts them. */
interface MessageHealth {
  /** attempted: messages with at least one attempt (delivered, failed, or pending a retry). */
  attempted: number;
  delivered: number;
  /** failing: messages whose last attempt failed (failed, or pending a retry). */
  failing: number;
  /** lastFailureAt: the latest last attempt of a failing message. */
  lastFailureAt: number | null;
}

/**
 * The webhooks module's part of the review report: the endpoints (whose, their state, their
 * deliveries' success rate in the period), how deliveries are signed and retried, when the plane
 * disables an endpoint, and the SSRF policy as this plane applies it.
 */
export function webhooksReview(service: WebhooksService): ReviewContributor[] {
  return [{ name: "webhooks.delivery", topic: "events", collect: (scope) => delivery(service, scope) }];
}

async function delivery(service: WebhooksService, scope: ReviewScope): Promise<ReviewPart> {
  const m = service.context;
  const db = m.db.tables<WebhooksTables>();
  const config = m.config.webhooks;
  const endpoints = await db
    .q()
    .selectFrom("webhook_endpoint")
    .select([
      "id",
      "tenant_id",
      "url",
      "event_types",
      "enabled",
      "disabled_reason",
      "disabled_at",
      "failing_since",
      "previous_secret_expires_at",
      "created_at",
    ])
    .where("environment_id", "=", scope.environmentId)
    .$if(scope.tenantId !== null, (qb) => qb.where("tenant_id", "=", scope.tenantId as string))
    .orderBy("created_at")
    .orderBy("id")
    .execute();

  const health = await healthOf(
    service,
    endpoints.map((e) => e.id),
    scope,
  );
  const empty: MessageHealth = { attempted: 0, delivered: 0, failing: 0, lastFailureAt: null };
  const healthOfEndpoint = (id: string) => health.get(id) ?? empty;
  const enabled = endpoints.filter((e) => Boolean(e.enabled));
  const failing = enabled.filter((e) => e.failing_since !== null);
  const rotating = endpoints.filter(
    (e) => e.previous_secret_expires_at !== null && Number(e.previous_secret_expires_at) > scope.now,
  );
  const total = [...health.values()].reduce(
    (t, h) => ({
      attempted: t.attempted + h.attempted,
      delivered: t.delivered + h.delivered,
      failing: t.failing + h.failing,
    }),
    { attempted: 0, delivered: 0, failing: 0 },
  );

  // Disabled endpoints first, then failing ones, then the rest (in creation order).
  const rank = (e: (typeof endpoints)[number]) => (!e.enabled ? 0 : e.failing_since !== null ? 1 : 2);
  const ordered = [...endpoints].sort((a, b) => rank(a) - rank(b));
  const lastStatus = await lastFailureStatus(
    service,
    ordered.slice(0, REVIEW_TABLE_ROWS).map((e) => ({ id: e.id, at: healthOfEndpoint(e.id).lastFailureAt })),
    scope,
  );
  const state = (e: (typeof endpoints)[number]): string => {
    if (!e.enabled) return `disabled (${e.disabled_reason ?? "manual"}) since ${reviewDate(e.disabled_at)}`;
    return e.failing_since === null ? "enabled" : `enabled, failing since ${reviewDate(e.failing_since)}`;
  };
  const lastFailure = (id: string): string | null => {
    const at = healthOfEndpoint(id).lastFailureAt;
    if (at === null) return null;
    const code = lastStatus.get(id);
    return `${reviewDate(at)} (${code === null || code === undefined ? "no answer" : `HTTP ${code}`})`;
  };
  const rows: ReviewValue[][] = ordered.map((e) => {
    const h = healthOfEndpoint(e.id);
    return [
      ...(scope.tenantId ? [] : [e.tenant_id ?? "environment"]),
      redactUrl(e.url),
      fromJson<string[]>(e.event_types).join(" "),
      state(e),
      `${h.delivered}/${h.attempted}`,
      successRate(h),
      lastFailure(e.id),
    ];
  });

  const schedule = config.retryScheduleMs;
  const ssrf = SSRF_PROBES.map((p) => {
    const ip = isIP(p.target);
    const refusal = checkUrl(`https://${ip === 6 ? `[${p.target}]` : p.target}/webhook`, config.allowPrivateTargets);
    return { ...p, addressClass: ip ? classifyAddress(p.target) : "name", refused: refusal !== null };
  });
  const nonPublicRefused = ssrf.filter((p) => p.addressClass !== "public").every((p) => p.refused);
  const periodDays = Math.round((scope.now - scope.since) / 86_400_000);

  return {
    title: scope.tenantId ? "The tenant's webhook endpoints and their deliveries" : "Webhook endpoints and delivery",
    blocks: [
      {
        kind: "text",
        text:
          "An event reaches every enabled endpoint subscribed to its type: an environment endpoint (the product's own) receives the matching events of the whole environment, a tenant-owned endpoint only its tenant's. " +
          "Each (event, endpoint) becomes a message in the event's own transaction, so a committed event reaches every endpoint it matched; delivery is at least once, in no particular order, and the body is the event as stored. " +
          "Messages of a tenant that is not active are paused without spending an attempt, and resume when it is reactivated." +
          (scope.tenantId
            ? " Only the tenant's own endpoints are listed here; the product's environment endpoints may also receive the tenant's events."
            : ""),
      },
      {
        kind: "text",
        text:
          "Deliveries are signed as Standard Webhooks specifies: the headers `webhook-id` (the message's id, the same on every retry), `webhook-timestamp` (Unix seconds) and `webhook-signature`, " +
          "which is `v1,` and the base64 HMAC-SHA256 of `{webhook-id}.{webhook-timestamp}.{body}` keyed with the endpoint's secret (`whsec_` and 32 random bytes, shown once, stored sealed under the plane's master key). " +
          "Rotating the secret may keep the previous one for a grace period, during which each delivery carries both signatures, space-separated.",
      },
      {
        kind: "text",
        text:
          `An attempt succeeds on a 2xx answer within ${formatDuration(config.timeoutMs)}; redirects are not followed. ` +
          `A failed attempt is retried after ${schedule.map(formatDuration).join(", ")} (±10% jitter): ${schedule.length + 1} attempts over about ${aboutDuration(schedule.reduce((a, b) => a + b, 0))}. ` +
          "A `Retry-After` answer lengthens the delay (on 429 and 503 it sets it, between 1 s and 24 h); `webhook-delivery: abort-message` stops the retries. " +
          `The plane disables an endpoint that answers 410 Gone, or whose attempts have all failed for ${formatDuration(FAILING_DISABLE_MS)}. ` +
          `Settled deliveries are kept ${m.config.events.retentionDays} days; the success rate counts the messages created in the last ${periodDays} days that were attempted (delivered, or whose last attempt failed).`,
      },
      {
        kind: "facts",
        items: [
          {
            label: scope.tenantId ? "The tenant's endpoints" : "Endpoints",
            value: endpoints.length,
          },
          ...(scope.tenantId
            ? []
            : [
                { label: "…of the environment", value: endpoints.filter((e) => e.tenant_id === null).length },
                { label: "…of tenants", value: endpoints.filter((e) => e.tenant_id !== null).length },
              ]),
          { label: "…enabled", value: enabled.length },
          { label: "…failing (enabled, last attempt failed)", value: failing.length },
          { label: "…disabled", value: endpoints.length - enabled.length },
          { label: "…with two secrets (rotation grace period)", value: rotating.length },
          { label: "Messages attempted in the period", value: total.attempted },
          { label: "…delivered", value: total.delivered },
          { label: "…failing", value: total.failing },
          { label: "Success rate", value: successRate(total) },
        ],
      },
      reviewTable(
        scope.tenantId ? "The tenant's endpoints" : "Endpoints",
        [
          ...(scope.tenantId ? [] : ["Owner"]),
          "URL",
          "Event types",
          "State",
          "Delivered/attempted",
          "Success rate",
          "Last failure",
        ],
        rows,
      ),
      {
        kind: "text",
        text:
          "Endpoint URLs must use http or https, carry no credentials and name a host; the URL is checked when an endpoint is created or changed, and at every connection each address its host resolves to is checked in the connection's own lookup, so the address dialled is the address checked. " +
          "Cloud metadata services, unspecified, multicast and reserved addresses are always refused; loopback, private, link-local, shared (CGNAT) and unique-local addresses, `localhost` and single-label names are refused unless BASEPLATE_WEBHOOKS_ALLOW_PRIVATE_TARGETS is on. " +
          "IPv4-mapped IPv6 addresses count as the IPv4 address they carry. The table puts targets to the policy as this plane runs it.",
      },
      reviewTable(
        "SSRF policy probes",
        ["Target", "Kind", "Class", "Here"],
        ssrf.map((p) => [p.target, p.kind, p.addressClass, p.refused ? "refused" : "allowed"]),
      ),
      {
        kind: "check",
        label: "SSRF protection on",
        ok: !config.allowPrivateTargets && nonPublicRefused,
        detail: config.allowPrivateTargets
          ? "BASEPLATE_WEBHOOKS_ALLOW_PRIVATE_TARGETS is on in this plane: endpoints may target loopback, private and link-local addresses; only cloud metadata, unspecified, multicast and reserved addresses stay refused."
          : nonPublicRefused
            ? "Private targets are not allowed: every non-public probe is refused."
            : "A non-public probe is allowed although private targets are not.",
      },
    ],
    figures: {
      "endpoints.count": endpoints.length,
      ...(scope.tenantId
        ? {}
        : {
            "endpoints.environment": endpoints.filter((e) => e.tenant_id === null).length,
            "endpoints.tenant": endpoints.filter((e) => e.tenant_id !== null).length,
          }),
      "endpoints.enabled": enabled.length,
      "endpoints.failing": failing.length,
      "endpoints.disabled": endpoints.length - enabled.length,
      "endpoints.rotating": rotating.length,
      "deliveries.attempted": total.attempted,
      "deliveries.delivered": total.delivered,
      "deliveries.failing": total.failing,
      "deliveries.successRate":
        total.attempted === 0 ? null : Math.round((total.delivered / total.attempted) * 1000) / 10,
      "retries.maxAttempts": schedule.length + 1,
      "ssrf.privateTargetsAllowed": config.allowPrivateTargets,
    },
  };
}

/**
 * healthOf counts, per endpoint, the messages created in the period as the console does (a
 * message is attempted when delivered, or when its last attempt failed: failed, or pending a
 * retry), by the `(endpoint_id, status, created_at)` index.
 */
async function healthOf(
  service: WebhooksService,
  endpointIds: string[],
  scope: ReviewScope,
): Promise<Map<string, MessageHealth>> {
  const db = service.context.db.tables<WebhooksTables>();
  const health = new Map<string, MessageHealth>();
  for (let i = 0; i < endpointIds.length; i += 500) {
    const rows = await db
      .q()
      .selectFrom("webhook_message")
      .select((eb) => [
        "endpoint_id",
        "status",
        eb.fn.countAll<number>().as("n"),
        eb.fn.max("last_attempt_at").as("last_attempt_at"),
      ])
      .where("endpoint_id", "in", endpointIds.slice(i, i + 500))
      .where("status", "in", ["succeeded", "failed", "pending"])
      .where("created_at", ">=", scope.since)
      .where("created_at", "<=", scope.now)
      .where((eb) =>
        eb.or([
          eb("status", "=", "succeeded"),
          eb.and([eb("last_attempt_at", "is not", null), eb.or([eb("status", "=", "failed"), eb("attempts", ">", 0)])]),
        ]),
      )
      .groupBy(["endpoint_id", "status"])
      .execute();
    for (const r of rows) {
      const h = health.get(r.endpoint_id) ?? { attempted: 0, delivered: 0, failing: 0, lastFailureAt: null };
      const n = Number(r.n);
      h.attempted += n;
      if (r.status === "succeeded") h.delivered += n;
      else {
        h.failing += n;
        const at = r.last_attempt_at === null ? null : Number(r.last_attempt_at);
        if (at !== null && (h.lastFailureAt === null || at > h.lastFailureAt)) h.lastFailureAt = at;
      }
      health.set(r.endpoint_id, h);
    }
  }
  return health;
}

/** lastFailureStatus reads the HTTP status of each endpoint's last failure (null: no answer). */
async function lastFailureStatus(
  service: WebhooksService,
  endpoints: Array<{ id: string; at: number | null }>,
  scope: ReviewScope,
): Promise<Map<string, number | null>> {
  const db = service.context.db.tables<WebhooksTables>();
  const codes = new Map<string, number | null>();
  for (const e of endpoints) {
    if (e.at === null) continue;
    const row = await db
      .q()
      .selectFrom("webhook_message")
      .select("last_status_code")
      .where("endpoint_id", "=", e.id)
      .where("status", "in", ["failed", "pending"])
      .where("created_at", ">=", scope.since)
      .where("created_at", "<=", scope.now)
      .where("last_attempt_at", "=", e.at)
      .where((eb) => eb.or([eb("status", "=", "failed"), eb("attempts", ">", 0)]))
      .executeTakeFirst();
    codes.set(e.id, row?.last_status_code === null || row === undefined ? null : Number(row.last_status_code));
  }
  return codes;
}

/** successRate is delivered among attempted, in percent to one decimal (as the console shows it). */
function successRate(h: { attempted: number; delivered: number }): string | null {
  return h.attempted === 0 ? null : `${Math.round((h.delivered / h.attempted) * 1000) / 10}%`;
}

/** formatDuration writes milliseconds in the largest whole unit (`5 s`, `30 min`, `10 h`, `5 days`). */
function formatDuration(ms: number): string {
  const units: Array<[number, string]> = [
    [86_400_000, " days"],
    [3_600_000, " h"],
    [60_000, " min"],
    [1000, " s"],
  ];
  for (const [size, unit] of units) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit === " days" && ms === size ? " day" : unit}`;
  }
  return `${ms} ms`;
}

/** aboutDuration writes milliseconds rounded to a readable unit (`28 h`, `3 days`, `35 min`). */
function aboutDuration(ms: number): string {
  if (ms >= 2 * 86_400_000) return `${Math.round(ms / 86_400_000)} days`;
  if (ms >= 3_600_000) return `${Math.round(ms / 3_600_000)} h`;
  if (ms >= 60_000) return `${Math.round(ms / 60_000)} min`;
  return `${Math.round(ms / 1000)} s`;
}
