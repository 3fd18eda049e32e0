import { type ReviewContributor, type ReviewScope, reviewDate, reviewTable } from "../../platform/review.js";
import type { EventsService } from "./service.js";
import type { EventsTables } from "./tables.js";

/**
 * The events module's part of the review report: the environment's event catalog (the types the
 * product registered, with their schema and version, and how many the plane declares), the event
 * log's retention, and how many events the log holds from the period.
 */
export function eventsReview(service: EventsService): ReviewContributor[] {
  const m = service.context;
  const db = m.db.tables<EventsTables>();

  /**
   * inPeriod counts the events of the period still in the log (the environment's, or one
   * tenant's): bounded by the period through the `(environment_id, time)` index.
   */
  async function inPeriod(scope: ReviewScope): Promise<number> {
    const row = await db
      .q()
      .selectFrom("event")
      .select((eb) => eb.fn.countAll<number>().as("n"))
      .where("environment_id", "=", scope.environmentId)
      .where("time", ">=", scope.since)
      .where("time", "<=", scope.now)
      .$if(scope.tenantId !== null, (qb) => qb.where("tenant_id", "=", scope.tenantId as string))
      .executeTakeFirst();
    return Number(row?.n ?? 0);
  }

  return [
    {
      name: "events.types",
      topic: "events",
      async collect(scope) {
        const registered = await db
          .q()
          .selectFrom("event_type")
          .select(["name", "version", "schema", "deprecated_at", "created_at"])
          .where("environment_id", "=", scope.environmentId)
          .orderBy("name")
          .execute();
        // Live types first, each group by name (the sort is stable).
        registered.sort((a, b) => Number(a.deprecated_at !== null) - Number(b.deprecated_at !== null));
        const live = registered.filter((t) => t.deprecated_at === null);
        const plane = service.catalog.planeTypes();
        const settings = await service.catalog.settingsOf(scope.environmentId);
        const ownRetention = await db
          .q()
          .selectFrom("event_settings")
          .select("environment_id")
          .where("environment_id", "=", scope.environmentId)
          .executeTakeFirst();
        const events = await inPeriod(scope);
        const periodDays = Math.round((scope.now - scope.since) / 86_400_000);
        return {
          title: "Event types and the event log",
          blocks: [
            {
              kind: "text",
              text:
                "Every change the plane makes (its facts) and every event the product publishes is appended to the environment's event log (CloudEvents-shaped, one gap-free sequence per environment) in the transaction of the change itself. " +
                "The product publishes only types it registered in the catalog, and `data` is checked against the type's JSON Schema when it has one; a new schema raises the type's version. " +
                (scope.tenantId
                  ? "The tenant's credentials read, stream and receive only the tenant's own events; the catalog below is the environment's, the same for every tenant."
                  : "Tenant credentials read, stream and receive only their tenant's events."),
            },
            {
              kind: "facts",
              items: [
                { label: "Event types the product registered (live)", value: live.length },
                { label: "…without a data schema", value: live.filter((t) => t.schema === null).length },
                { label: "…deprecated", value: registered.length - live.length },
                { label: "The plane's own event types", value: plane.length },
                { label: "Retention of the event log (days)", value: settings.retentionDays },
                {
                  label: "…set by",
                  value: ownRetention ? "the environment" : "the plane's default (BASEPLATE_EVENTS_RETENTION_DAYS)",
                },
                {
                  label: scope.tenantId
                    ? `The tenant's events in the log from the last ${periodDays} days`
                    : `Events in the log from the last ${periodDays} days`,
                  value: events,
                },
              ],
            },
            {
              kind: "text",
              text: `A daily prune deletes events older than ${settings.retentionDays} days, so events of the period older than that are no longer counted.`,
            },
            reviewTable(
              "Event types the product registered",
              ["Type", "Version", "Data schema", "Registered", "Deprecated"],
              registered.map((t) => [
                t.name,
                Number(t.version),
                t.schema === null ? "no" : "yes",
                reviewDate(t.created_at),
                reviewDate(t.deprecated_at),
              ]),
            ),
          ],
          figures: {
            "eventTypes.registered": live.length,
            "eventTypes.withoutSchema": live.filter((t) => t.schema === null).length,
            "eventTypes.deprecated": registered.length - live.length,
            "eventTypes.plane": plane.length,
            "events.retentionDays": settings.retentionDays,
            "events.inPeriod": events,
          },
        };
      },
    },
  ];
}
