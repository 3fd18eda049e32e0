import { defineModule } from "../../platform/module.js";
import { auditModule } from "../audit/index.js";
import { tenancyModule } from "../tenancy/index.js";
import { reviewRoutes } from "./routes.js";
import { ReviewService } from "./service.js";

/**
 * The review module: the review report (`GET /v1/review`, `baseplate review`), generated from the
 * live plane and signed with the audit signing key (docs/review.md). It owns no table: the parts
 * are the other modules' (their `review` declarations); it adds the isolation self-test.
 */
export const reviewModule = defineModule({
  name: "review",
  dependsOn: { tenancy: tenancyModule, audit: auditModule },
  migrations: [],
  permissions: { review: ["read"] },
  roleGrants: { admin: { review: ["read"] } },
  createService: (ctx, { tenancy, audit }) => new ReviewService(ctx, tenancy, audit),
  routes: (service) => reviewRoutes(service),
});
