import { inEnvironment } from "../api.js";
import { InEnvironment } from "../lists.js";
import { ReviewPanel } from "../review-report.js";
import { PageHeader } from "../ui.js";

/**
 * Review: the environment's review report (`GET /v1/review`), generated from the live plane when
 * asked for and signed by the plane.
 */
export function Review() {
  return (
    <>
      <PageHeader
        title="Review report"
        subtitle="Evidence for a security review, generated from this environment now and signed by the plane."
      />
      <InEnvironment>
        {(id) => <ReviewPanel key={id} source={{ client: inEnvironment(id), tenantId: null }} />}
      </InEnvironment>
    </>
  );
}
