import { defineErrors } from "../../platform/errors.js";

export const WebhooksErrors = defineErrors({
  endpoint_not_found: { status: 404, title: "Webhook endpoint not found" },
  message_not_found: { status: 404, title: "Webhook message not found" },
  endpoint_url_refused: { status: 400, title: "The webhook URL is not allowed" },
});
