import type { ModuleContext } from "../../platform/module.js";
import { type Resolver, systemResolver } from "../../platform/ssrf.js";
import type { EventsService } from "../events/index.js";
import type { TenancyService } from "../tenancy/index.js";
import { Sender } from "./internal/sender.js";
import { DeliveryService } from "./service/delivery.js";
import { EndpointsService } from "./service/endpoints.js";
import { MessagesService } from "./service/messages.js";

/** WebhooksOptions: what tests replace (the DNS resolver). */
export interface WebhooksOptions {
  resolver?: Resolver;
}

/** WebhooksService: endpoints, fan-out and delivery of events, and the delivery log. */
export class WebhooksService {
  readonly endpoints: EndpointsService;
  readonly delivery: DeliveryService;
  readonly messages: MessagesService;
  readonly sender: Sender;
  /** context is the module's platform context (its manifest section guards and locks with it). */
  readonly context: ModuleContext;

  readonly #jobs: ModuleContext["jobs"];

  constructor(m: ModuleContext, events: EventsService, tenancy: TenancyService, options: WebhooksOptions = {}) {
    this.context = m;
    this.#jobs = m.jobs;
    this.sender = new Sender({
      allowPrivate: m.config.webhooks.allowPrivateTargets,
      resolver: options.resolver ?? systemResolver,
      maxSockets: Math.max(16, m.config.workers.concurrency * 2),
    });
    this.endpoints = new EndpointsService(m);
    // The tenancy module's cached tenant state (evicted on every process when a tenant's state changes).
    this.delivery = new DeliveryService(
      m,
      events,
      this.sender,
      async (environmentId, tenantId) => (await tenancy.tenants.tenantState(environmentId, tenantId))?.status ?? null,
    );
    this.messages = new MessagesService(m, this.endpoints, this.delivery);
  }

  /** wake tells this process's workers that deliveries were enqueued (by any process). */
  wake(): void {
    this.#jobs.wake();
  }
}
