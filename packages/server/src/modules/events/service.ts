import type { z } from "zod";
import { AppError, PlatformErrors } from "../../platform/errors.js";
import type { ModuleContext } from "../../platform/module.js";
import type { ActionContext } from "../../platform/principal.js";
import { parsePatterns } from "./internal/rows.js";
import { EventStreams } from "./internal/stream.js";
import type { StreamEventsQuery } from "./schemas.js";
import { CatalogService } from "./service/catalog.js";
import { BUS_TOPIC, EventLogService } from "./service/log.js";

/** EventsService: the event log (facts and published events), its catalog and its live streams. */
export class EventsService {
  readonly catalog: CatalogService;
  readonly log: EventLogService;
  readonly streams: EventStreams;
  /** context is the module's platform context (its manifest sections guard and lock with it). */
  readonly context: ModuleContext;

  constructor(private readonly m: ModuleContext) {
    this.context = m;
    this.catalog = new CatalogService(m);
    this.log = new EventLogService(m, this.catalog);
    this.streams = new EventStreams(this.log, m.bus, BUS_TOPIC, m.logger);
  }

  /**
   * streamEvents checks access, then hands the response to the stream: events after
   * `Last-Event-ID` (header or query), or from now on, of the caller's tenant when tenant-bound.
   */
  async streamEvents(
    ctx: ActionContext,
    query: z.infer<typeof StreamEventsQuery>,
    lastEventIdHeader: string | undefined,
    hijack: () => { res: import("node:http").ServerResponse; requestId: string },
  ): Promise<void> {
    const { environmentId, tenantId, environmentOnly } = await this.m.access.require(ctx, "events:read", {
      tenantId: query.tenantId ?? null,
      field: "query.tenantId",
    });
    let last: number | null = query.lastEventId ?? null;
    if (lastEventIdHeader !== undefined && lastEventIdHeader !== "") {
      if (!/^\d{1,15}$/.test(lastEventIdHeader)) {
        throw new AppError(PlatformErrors.validation_failed, "Last-Event-ID must be an event sequence number.");
      }
      last = Number(lastEventIdHeader);
    }
    const { res, requestId } = hijack();
    await this.streams.open(
      res,
      { environmentId, tenantId, environmentOnly: environmentOnly === true, patterns: parsePatterns(query.types) },
      last,
      requestId,
    );
  }
}
