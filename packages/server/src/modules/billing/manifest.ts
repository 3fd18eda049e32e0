import { z } from "zod";
import type { Tx } from "../../platform/db/db.js";
import { type ManifestAssessment, type ManifestDiff, type ManifestSection, plural } from "../../platform/manifest.js";
import type { ActionContext } from "../../platform/principal.js";
import { SetEntitlementInput } from "../usage/index.js";
import { toPlanVersion } from "./internal/rows.js";
import { ChargeInput, CreatePlanInput, type CreatePlanVersionInput } from "./schemas.js";
import type { BillingService } from "./service.js";

/**
 * MeterRef names a meter by its key (the usage module's key pattern): the manifest names meters by
 * key, never by id, so that a plan means the same in every environment.
 */
const MeterRef = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[a-z][a-z0-9_]*$/, "must be a meter's key (a manifest names meters by key, not by id)")
  .describe("The meter's key.");

const [perUnit, graduated, volume, packaged, percentage] = ChargeInput.options;
const meterField = { meter: MeterRef.describe("The meter (key) whose usage over the period is the quantity.") };

/** Charge is a charge as a new version takes it, its meter named by key. */
const Charge = z.discriminatedUnion("model", [
  perUnit.extend(meterField),
  graduated.extend(meterField),
  volume.extend(meterField),
  packaged.extend(meterField),
  percentage.extend(meterField),
]);

/**
 * checkedAs is `schema` as the second stage of a pipe from a fresh schema of the same output: its
 * refinements then check what the fresh one parsed.
 */
function checkedAs<S extends z.ZodType>(schema: S): z.ZodType<z.output<S>, z.output<S>> {
  return schema as unknown as z.ZodType<z.output<S>, z.output<S>>;
}

/** Limit is an entitlement as a new version takes it, a metered limit's meter named by key. */
const Limit = z
  .strictObject({
    ...SetEntitlementInput.shape,
    meter: MeterRef.optional().describe("A metered limit: its meter (key)."),
  })
  .pipe(checkedAs(SetEntitlementInput));

/**
 * PlanItem is a plan as the manifest declares it: its key, name and description, and its current
 * price list in the shape a new version takes (interval, currency, trial, fixed fee, charges,
 * entitlements, credits). Built afresh from the input's fields, then checked as CreatePlanInput:
 * the manifest's JSON Schema inlines it (the API's named schemas would be `$ref`s it cannot hold).
 */
export const PlanItem = z
  .strictObject({
    ...CreatePlanInput.shape,
    charges: z.array(Charge).max(50).default([]).describe("Per-meter charges, priced from usage."),
    entitlements: z
      .array(Limit)
      .max(100)
      .default([])
      .describe("Features and limits granted to a subscribed tenant (applied to its usage entitlements)."),
  })
  .pipe(checkedAs(CreatePlanInput));
export type PlanItem = z.infer<typeof PlanItem>;

type VersionInput = z.infer<typeof CreatePlanVersionInput>;
type Entitlement = PlanItem["entitlements"][number];

/** VERSION_FIELDS are an item's price list: a change to any of them is a new version of the plan. */
const VERSION_FIELDS = ["interval", "currency", "trialDays", "fixedFee", "charges", "entitlements", "credits"];

/** versionOf is an item's price list, as a new version of its plan takes it. */
function versionOf(item: PlanItem): VersionInput {
  return {
    interval: item.interval,
    currency: item.currency,
    trialDays: item.trialDays,
    fixedFee: item.fixedFee,
    charges: item.charges,
    entitlements: item.entitlements,
    credits: item.credits,
  };
}

/** describe says what a plan charges in a few words: `monthly, USD, fixed fee 20.00, 2 charges`. */
function describe(item: PlanItem): string {
  return `${item.interval}ly, ${item.currency}, fixed fee ${item.fixedFee}, ${plural(item.charges.length, "charge")}`;
}

/**
 * plansSection: the environment's plans, each with its current price version. Prices are never
 * edited: a changed price list becomes the plan's next version, which new subscriptions get while
 * live subscriptions stay on the version they are on (as POST /v1/billing/plans/:planId/versions
 * does). Removing a plan archives it: no new subscription starts on it; its live ones go on, which
 * makes the archive destructive when it has any.
 */
export function plansSection(service: BillingService): ManifestSection<PlanItem> {
  const catalog = service.catalog;
  const m = service.context;

  /** refusal is why the module would refuse an item's price list, or null. */
  async function refusal(environmentId: string, item: PlanItem, tx?: Tx) {
    const { refused, missingMeters } = await catalog.priceProblem(environmentId, versionOf(item), tx);
    const note =
      missingMeters.length === 0
        ? ""
        : ` It prices ${[...new Set(missingMeters)].map((k) => `\`${k}\``).join(", ")}, not meters of the environment yet: declare them under \`meters\` in this manifest.`;
    return {
      // The API's message names the request body's field (`body.fixedFee`): here it is the item's.
      blocked: refused
        ? `The price list would be refused (${refused.code}): ${refused.message.replace(/^body\./, "")}`
        : null,
      note,
    };
  }

  return {
    name: "plans",
    description:
      "Billing plans and their current price version: interval, currency, trial, fixed fee, charges per meter, entitlements, credits. A changed price list becomes the plan's next version.",
    item: PlanItem,
    keyOf: (i) => i.key,
    normalize: (i) => ({
      ...i,
      entitlements: [...i.entitlements].sort((a, b) => (a.feature < b.feature ? -1 : a.feature > b.feature ? 1 : 0)),
    }),
    guard: (ctx, mode) => void m.access.environment(ctx, mode === "read" ? "billing:read" : "billing:manage"),
    lock: (tx) => m.db.lockTable(tx, "billing_plan"),
    async live(environmentId, tx) {
      const plans = (await catalog.livePlans(environmentId, tx)).map(({ plan, version }) => ({
        plan,
        version: toPlanVersion(version),
      }));
      // A version keeps its limits as they were given: a meter named by id is named by key here.
      const refs = plans.flatMap(({ version }) =>
        (version.entitlements as Entitlement[]).flatMap((e) => (e.meter === undefined ? [] : [e.meter])),
      );
      const meters = await service.usage.meters.rows(environmentId, refs, tx);
      const keyById = new Map(meters.map((r) => [r.id, r.key]));
      return plans.map(({ plan, version }) => ({
        key: plan.key,
        name: plan.name,
        description: plan.description,
        interval: version.interval,
        currency: version.currency,
        trialDays: version.trialDays,
        fixedFee: version.fixedFee,
        charges: version.charges.map(({ meterId: _, ...charge }) => charge as ChargeInput),
        entitlements: (version.entitlements as Entitlement[]).map((e) =>
          e.meter === undefined ? e : { ...e, meter: keyById.get(e.meter) ?? e.meter },
        ),
        credits: version.credits,
      }));
    },
    async assess(environmentId, diff, tx): Promise<ManifestAssessment> {
      const key = `\`${diff.key}\``;
      if (diff.action === "create") {
        const after = diff.after as PlanItem;
        const taken = await catalog.archivedKeyTaken(environmentId, diff.key, tx);
        const prices = await refusal(environmentId, after, tx);
        return {
          risk: "additive",
          summary: `Adds plan ${key} (${describe(after)}).${prices.note}`,
          affected: [],
          blocked: taken
            ? `An archived plan holds the key ${key}; plan keys are never reused: choose another.`
            : prices.blocked,
        };
      }
      const plan = await catalog.planRow(environmentId, diff.key, tx);
      const live = await service.subscriptions.liveOnPlan(environmentId, plan.id, tx);
      const affected = live > 0 ? [{ count: live, what: `live subscriptions on plan ${key}` }] : [];
      if (diff.action === "delete") {
        return {
          risk: live > 0 ? "destructive" : "behaviour",
          summary: `Archives plan ${key}: no subscription may start on it or move to it from then on; ${
            live > 0 ? `its ${plural(live, "live subscription")} go on, each on its version.` : "none is on it."
          }`,
          affected,
          blocked: null,
        };
      }
      const before = diff.before as PlanItem;
      const after = diff.after as PlanItem;
      const prices = diff.fields.filter((f) => VERSION_FIELDS.includes(f));
      const parts: string[] = [];
      if (diff.fields.includes("name")) parts.push(`renames it "${after.name}"`);
      if (diff.fields.includes("description")) parts.push("changes its description");
      if (prices.length === 0) {
        return { risk: "additive", summary: `Plan ${key}: ${parts.join("; ")}.`, affected: [], blocked: null };
      }
      const next = Number(plan.current_version) + 1;
      const checked = await refusal(environmentId, after, tx);
      const moves =
        before.currency !== after.currency || before.interval !== after.interval
          ? ` (from ${describe(before)} to ${describe(after)})`
          : "";
      parts.unshift(`adds price version ${next}, changing its ${prices.join(", ")}${moves}`);
      const stay =
        live > 0
          ? `its ${plural(live, "live subscription")} stay on the versions they are on (move them with POST /v1/billing/subscriptions/{id}/change).`
          : "no subscription is on it.";
      return {
        risk: "behaviour",
        summary: `Plan ${key}: ${parts.join("; ")}. New subscriptions start on version ${next}; ${stay}${checked.note}`,
        affected,
        blocked: checked.blocked,
      };
    },
    // What assess could not know is refused by the catalog's own checks (a meter the manifest
    // declares, created just before, that cannot be billed; one declared nowhere): the engine
    // reports it as the change that was refused, and the whole apply rolls back.
    apply: (tx, ctx, environmentId, diff) => applyChange(tx, ctx, environmentId, diff),
  };

  /** applyChange makes one change with the catalog's own writes (recording their facts) in `tx`. */
  async function applyChange(tx: Tx, ctx: ActionContext, environmentId: string, diff: ManifestDiff<PlanItem>) {
    if (diff.action === "create") {
      await catalog.insertPlan(tx, ctx, environmentId, diff.after as PlanItem);
      return;
    }
    if (diff.action === "delete") {
      await catalog.archiveIn(tx, ctx, environmentId, diff.key);
      return;
    }
    const after = diff.after as PlanItem;
    // Renamed first: it reads the plan's current version, which is then still the committed one.
    if (diff.fields.includes("name") || diff.fields.includes("description")) {
      await catalog.changePlan(tx, ctx, environmentId, diff.key, { name: after.name, description: after.description });
    }
    if (diff.fields.some((f) => VERSION_FIELDS.includes(f))) {
      await catalog.insertVersion(tx, ctx, environmentId, diff.key, versionOf(after));
    }
  }
}
