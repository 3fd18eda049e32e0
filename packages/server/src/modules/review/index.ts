/** The review module's public surface: other code imports only this file. */
export { reviewModule } from "./module.js";
export { renderHtml, renderMarkdown } from "./render.js";
export { renderReviewPdf } from "./render-pdf.js";
export type { ReviewReport, SignedReview } from "./schemas.js";
export { ReviewService } from "./service.js";
export { type PublicKey, type ReviewVerification, verifyReview, verifyReviewText } from "./verify.js";
