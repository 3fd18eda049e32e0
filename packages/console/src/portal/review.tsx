import { ReviewPanel } from "../review-report.js";
import { PageHeader } from "../ui.js";
import { portal } from "./api.js";

/**
 * ReviewSection: the tenant's own review report (`GET /v1/tenants/{tenantId}/review`), for the
 * organisation's security reviewer: its access, data scoping, webhooks, billing and audit chain,
 * generated now and signed by the plane.
 */
export function ReviewSection({ tenantId }: { tenantId: string }) {
  return (
    <>
      <PageHeader
        title="Security review"
        subtitle="A report on your organisation's account, generated now from the live service and signed by it: give it to your security reviewer."
      />
      <ReviewPanel source={{ client: portal, tenantId }} />
    </>
  );
}
