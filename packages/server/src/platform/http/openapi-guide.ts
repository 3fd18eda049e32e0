/**
 * The prose of the API document: the getting-started guide (`info.description`, Markdown, rendered
 * by `/docs`) and the tags in reading order, each with its description. Text only: the operations
 * themselves come from the route table.
 */

/** TagDoc is one tag of the document: its name, what it covers, and the group it is listed under. */
export interface TagDoc {
  name: string;
  group: string;
  description: string;
}

/**
 * API_TAGS lists the tags in the order a newcomer reads them: the plane's own structure first, then
 * tenants and their users, sign-in, access, keys, audit, events and webhooks, storage, usage,
 * billing, and the platform's probes. A tag used by a route but missing here is listed last, under
 * "Other" (the OpenAPI test refuses that).
 */
export const API_TAGS: readonly TagDoc[] = [
  {
    name: "Operators",
    group: "Operators, projects, environments and surfaces",
    description:
      "Plane staff (`admin`, `support`): sign-in, operator API tokens (`bp_ot_…`) and the operator roster. Operator credentials configure the plane; they never act inside an environment's data.",
  },
  {
    name: "Projects",
    group: "Operators, projects, environments and surfaces",
    description: "A product built on the plane. Holds environments; archiving it stops every credential in it.",
  },
  {
    name: "Environments",
    group: "Operators, projects, environments and surfaces",
    description:
      "The hard isolation boundary (development, production, …): nothing is shared between environments, so another environment's object answers 404.",
  },
  {
    name: "Surfaces",
    group: "Operators, projects, environments and surfaces",
    description:
      "A product surface (web app, API, agent) that credentials are issued to: allowed browser origins, a scope ceiling, self sign-up and its sign-in settings.",
  },
  {
    name: "Tenants",
    group: "Tenants",
    description:
      "Customer organisations of an environment, with a lifecycle (`active`, `suspended`, `deactivated`). A suspended tenant answers `tenant_suspended` to everything but reading, export and billing recovery.",
  },
  {
    name: "Tenant portal",
    group: "Tenants",
    description:
      "A page a product links or embeds for its customers' admins: one-time links minted by the product's backend open a short-lived session bound to one tenant (`bp_ps_…`), themed per surface. See docs/portal.md.",
  },
  {
    name: "Users",
    group: "Users",
    description:
      "End users of an environment (email unique per environment), created by the product's backend or by self sign-up; export and erasure for privacy requests.",
  },
  {
    name: "End-user auth",
    group: "Sessions & sign-in",
    description:
      "Sign-up, password and magic-link sign-in, sessions (`bp_st_…`), email verification, password reset and multi-factor authentication.",
  },
  {
    name: "Passkeys",
    group: "Sessions & sign-in",
    description: "WebAuthn passkeys: registration ceremonies and passwordless sign-in.",
  },
  {
    name: "Single sign-on",
    group: "Sessions & sign-in",
    description:
      "Sign-in with OpenID Connect: a tenant's own identity provider and its verified email domains, and discovery by email address.",
  },
  {
    name: "Access tokens",
    group: "Sessions & sign-in",
    description: "Short-lived signed access tokens (JWT) exchanged from a session, and the JWKS to verify them.",
  },
  {
    name: "Access",
    group: "Access",
    description: "Permission checks and explanations: may this subject do this in this tenant, and why (or why not).",
  },
  {
    name: "Roles",
    group: "Access",
    description:
      "An environment's roles, built from permission statements (`invoices:approve`), besides the built-in ones.",
  },
  {
    name: "Members",
    group: "Access",
    description: "Memberships: which users belong to a tenant, with which roles.",
  },
  {
    name: "Invitations",
    group: "Access",
    description: "Invite someone into a tenant by email; the invitation token (`bp_iv_…`) is shown once.",
  },
  {
    name: "Secret keys",
    group: "Keys",
    description:
      "An environment's secret keys (`bp_sk_…`): the product's backend credential, acting for every tenant of the environment. Rotation keeps the old key working for a grace period.",
  },
  {
    name: "Tenant keys",
    group: "Keys",
    description:
      "Keys bound to one tenant (`bp_tk_…`) for that customer's own integrations, limited to the permissions given.",
  },
  {
    name: "Agent keys",
    group: "Keys",
    description:
      "Keys for AI agents acting for a user in a tenant (`bp_ak_…`): never more than the delegating user may do, refusals recorded.",
  },
  {
    name: "Audit",
    group: "Audit",
    description:
      "The tamper-evident audit log: every change the plane makes, plus entries the product writes; search, export, signed checkpoints and verification.",
  },
  {
    name: "Events",
    group: "Events",
    description:
      "The event log: events the plane and the product publish, in commit order, listed or followed live as server-sent events; event types and their schemas.",
  },
  {
    name: "Webhooks",
    group: "Webhooks",
    description:
      "Endpoints that receive events as signed HTTP POSTs (Standard Webhooks), with retries, delivery attempts and recovery.",
  },
  {
    name: "Storage buckets",
    group: "Storage",
    description: "Buckets: where files live, with their size and type limits and quotas.",
  },
  {
    name: "Files",
    group: "Storage",
    description: "Files of a bucket: upload, download (directly or by signed URL), metadata and deletion.",
  },
  {
    name: "Upload sessions",
    group: "Storage",
    description: "Resumable and direct uploads for large files, in chunks.",
  },
  {
    name: "Usage",
    group: "Usage",
    description:
      "Meters and usage events: ingest (idempotent per event id), reserve and commit, and totals per tenant.",
  },
  {
    name: "Entitlements",
    group: "Usage",
    description: "What a tenant may use: limits per meter, checked before the work is done.",
  },
  {
    name: "Rate limits",
    group: "Usage",
    description: "Per-tenant rate-limit overrides of the environment's defaults.",
  },
  {
    name: "Billing: plans",
    group: "Billing",
    description: "Plans and their versions: prices, charges per meter, included amounts.",
  },
  {
    name: "Billing: subscriptions",
    group: "Billing",
    description: "A tenant's subscription to a plan: start, plan changes, cancellation.",
  },
  {
    name: "Billing: invoices",
    group: "Billing",
    description: "Invoices per billing period: preview, finalisation, PDF and payment state.",
  },
  {
    name: "Billing: credit notes",
    group: "Billing",
    description: "Credit notes that reduce a finalised invoice.",
  },
  {
    name: "Billing: credits",
    group: "Billing",
    description: "Prepaid credit wallets: grants, holds, consumption and the ledger.",
  },
  {
    name: "Billing: payments",
    group: "Billing",
    description: "Payments recorded against invoices.",
  },
  {
    name: "Billing: test clocks",
    group: "Billing",
    description: "Simulated time for billing tests (refused in a production environment).",
  },
  {
    name: "Support access",
    group: "Operators, projects, environments and surfaces",
    description:
      "Operators act inside a tenant (its members, keys, audit log, webhooks, usage) only under support access: asked for with a reason, for a limited time, seen by the tenant and, by its policy, approved by its owners first. Every write under it is audited as the operator and the access. See docs/support-access.md.",
  },
  {
    name: "Backups",
    group: "Platform",
    description:
      "The plane's backups of itself (operators only: admins take them, support lists and verifies them). Restoring is `baseplate backup restore`, on the machine. See docs/backups.md.",
  },
  {
    name: "Manifest",
    group: "Platform",
    description:
      "An environment's configuration (surfaces, roles, meters, …) as a declarative manifest (`baseplate.yaml`): export it, plan a manifest against the environment (each change classified additive, behaviour or destructive, with what it affects), apply it all or nothing. See docs/manifest.md.",
  },
  {
    name: "Review",
    group: "Platform",
    description:
      "The review report: a signed document generated from the live plane that answers a security reviewer's questions with evidence, for an environment or one tenant. See docs/review.md.",
  },
  {
    name: "Operations",
    group: "Platform",
    description: "Liveness and readiness probes for orchestrators and load balancers.",
  },
];

/**
 * GETTING_STARTED is the document's `info.description`: what a newcomer needs before the first
 * call (credentials and how to get them, first calls, errors, idempotency, pagination, rate limits,
 * webhook verification).
 */
export const GETTING_STARTED = `The Baseplate plane: identity & access, tenants & environments, audit, events & webhooks, storage, usage and billing foundations.

## Getting started

### Credentials

Every call but sign-in and the probes sends a credential as \`Authorization: Bearer <token>\`. Tokens carry their kind in their prefix and are shown once, when issued:

| credential | prefix | how to get one | acts as |
| --- | --- | --- | --- |
| operator token | \`bp_ot_\` | \`baseplate init\` (first operator), \`POST /v1/operator/login\`, \`POST /v1/operator/tokens\` | plane staff: projects, environments, surfaces, secret keys |
| secret key | \`bp_sk_\` | printed by \`baseplate init\`; \`POST /v1/environments/{environmentId}/secret-keys\` (operator) | the product's backend, for every tenant of one environment |
| session | \`bp_st_\` | \`POST /v1/auth/login\`, \`POST /v1/auth/signup\` | one end user |
| tenant key | \`bp_tk_\` | \`POST /v1/tenants/{tenantId}/keys\` | one tenant's integration |
| agent key | \`bp_ak_\` | \`POST /v1/tenants/{tenantId}/agent-keys\` | an AI agent, never more than its user |

A route that does not accept the credential's kind answers \`403 forbidden\` whatever its permissions; each operation says who may call it.

### First calls

\`\`\`sh
SK=bp_sk_…   # the development secret key printed by \`baseplate init\`
curl -s -X POST "$BASEPLATE/v1/tenants" -H "authorization: Bearer $SK" \\
  -H 'content-type: application/json' -d '{"name":"Globex","externalId":"cus_42"}'
curl -s -X POST "$BASEPLATE/v1/users" -H "authorization: Bearer $SK" \\
  -H 'content-type: application/json' -d '{"email":"ann@globex.com","password":"a long passphrase of hers"}'
curl -s "$BASEPLATE/v1/tenants?limit=10" -H "authorization: Bearer $SK"
\`\`\`

### Errors

Every error is an RFC 9457 problem (\`application/problem+json\`) with a stable \`code\` to branch on and a \`requestId\` to quote: \`{"type":"urn:baseplate:problem:tenant_not_found","title":"…","status":404,"detail":"…","code":"tenant_not_found","requestId":"req_…"}\`. Each response of each operation lists the codes it can answer (\`x-problem-codes\`, and the \`code\` enum of its schema). Validation failures (\`400 validation_failed\`) name each bad field in \`errors[]\`. An object of another environment or tenant answers 404, never 403.

### Idempotency

Every \`POST\` accepts an \`Idempotency-Key\` header (1–255 visible ASCII characters): the first response is stored for 24 hours and replayed for a retry with the same key (\`idempotent-replayed: true\`). The same key with another body answers \`422 idempotency_key_reused\`; while the first request still runs, \`409 idempotency_request_in_progress\`. One-time secrets in a stored response are replayed as \`null\`.

### Pagination

Lists answer \`{"data": […], "nextCursor": "…"}\`. Pass \`nextCursor\` as \`?cursor=\` (with the same filters) for the next page; it is \`null\` on the last page. \`limit\` is 1–100 (default 20).

### Rate limits

Authenticated requests spend from token buckets per credential and per tenant (separately for reads and writes). Every response carries \`RateLimit\` and \`RateLimit-Policy\` headers; an empty bucket answers \`429 rate_limited\` with \`Retry-After\` in seconds.

### Webhooks

Deliveries are signed the Standard Webhooks way (\`webhook-id\`, \`webhook-timestamp\`, \`webhook-signature\`). Verify the raw body with any Standard Webhooks library and the endpoint's secret (\`whsec_…\`, shown once), reject timestamps more than 5 minutes off, and deduplicate on \`webhook-id\` (the same on every retry):

\`\`\`ts
import { Webhook } from "standardwebhooks";
const event = new Webhook(secret).verify(rawBody, headers); // throws if the signature is not valid
\`\`\`
`;
