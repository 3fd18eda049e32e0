import { writeFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { unwrap } from "@baseplate/sdk";
import { defineCommand, EXIT, UsageError } from "../command.js";
import type { CliIo } from "../io.js";
import { printJson } from "../io.js";
import { connect, reach } from "./client.js";
import { MANIFEST_FILE, ManifestFileError, readManifest, type Sections, sectionsFor, toYaml } from "./manifest-file.js";

type Change = {
  section: string;
  action: "create" | "update" | "delete";
  key: string;
  risk: string;
  summary: string;
  affected: Array<{ count: number; what: string }>;
  blocked: string | null;
};
type Plan = {
  environmentId: string;
  manifestHash: string;
  liveHash: string;
  changes: Change[];
  summary: { changes: number; additive: number; behaviour: number; destructive: number; blocked: number };
};

const FILE_FLAG = {
  type: "string" as const,
  short: "f",
  value: "FILE",
  description: `The manifest [${MANIFEST_FILE}].`,
};
const ENV_FLAG = {
  type: "string" as const,
  value: "NAME",
  description: "Which of the manifest's environments to use (its shared sections, replaced by that environment's own).",
};

const SIGN: Record<Change["action"], string> = { create: "+", update: "~", delete: "-" };

/** loadSections reads the manifest file and picks the environment's sections (a usage error when it cannot). */
function loadSections(flags: Record<string, unknown>): Sections {
  try {
    return sectionsFor(
      readManifest((flags.file as string | undefined) ?? MANIFEST_FILE),
      flags.env as string | undefined,
    );
  } catch (err) {
    if (err instanceof ManifestFileError) throw new UsageError(err.message);
    throw err;
  }
}

/** printPlan shows a plan as a person reviews it: one line per change, its risk, what it affects, why it is blocked. */
export function printPlan(io: CliIo, plan: Plan): void {
  io.out(`Environment ${plan.environmentId}   manifest ${plan.manifestHash.slice(0, 19)}…`);
  if (plan.changes.length === 0) {
    io.out("No changes: the environment matches the manifest.");
    return;
  }
  const width = Math.max(...plan.changes.map((c) => `${c.section}/${c.key}`.length));
  for (const c of plan.changes) {
    const risk = c.risk === "destructive" ? "DESTRUCTIVE" : c.risk;
    io.out(`  ${SIGN[c.action]} ${`${c.section}/${c.key}`.padEnd(width)}  ${risk.padEnd(11)}  ${c.summary}`);
    for (const a of c.affected) io.out(`      affects ${a.count} ${a.what}`);
    if (c.blocked) io.out(`      BLOCKED: ${c.blocked}`);
  }
  const s = plan.summary;
  io.out(
    `${s.changes} change(s): ${s.additive} additive, ${s.behaviour} behaviour, ${s.destructive} destructive` +
      (s.blocked > 0 ? `; ${s.blocked} blocked (apply refuses the manifest until they are resolved)` : "") +
      ".",
  );
}

const plan = defineCommand({
  name: "plan",
  section: "remote",
  remote: true,
  json: true,
  summary: "Compare the manifest with the environment: each change, its risk and what it affects.",
  description:
    "Nothing is changed. The environment is the one the credential acts in (a secret key's, or an\n" +
    "operator's --environment). Surfaces need an operator credential.",
  flags: { file: FILE_FLAG, env: ENV_FLAG },
  async run(ctx) {
    const manifest = loadSections(ctx.flags);
    const { bp, connection } = connect(ctx);
    const result = (await reach(connection, () =>
      unwrap(bp.POST("/v1/manifest/plan", { body: { manifest } })),
    )) as Plan;
    if (ctx.json) printJson(ctx.io, result);
    else {
      printPlan(ctx.io, result);
      if (result.changes.length > 0)
        ctx.io.out(`To apply exactly this plan: baseplate apply --live-hash ${result.liveHash}`);
    }
    return EXIT.ok;
  },
});

const apply = defineCommand({
  name: "apply",
  section: "remote",
  remote: true,
  json: true,
  summary: "Apply the manifest to the environment, all or nothing.",
  description:
    "Plans first and shows the plan. Refused when the environment changed since the plan (with\n" +
    "--live-hash: since the plan you reviewed), when a change is blocked, or when a change is\n" +
    "destructive and --allow-destructive is not given. Every change is audited, and the apply too.",
  flags: {
    file: FILE_FLAG,
    env: ENV_FLAG,
    "allow-destructive": { type: "boolean", description: "Make destructive changes too." },
    "live-hash": {
      type: "string",
      value: "HASH",
      description: "Apply only if the environment is as this plan saw it.",
    },
    yes: { type: "boolean", short: "y", description: "Do not ask for confirmation (required without a terminal)." },
  },
  async run(ctx) {
    const manifest = loadSections(ctx.flags);
    const { bp, connection } = connect(ctx);
    const planned = (await reach(connection, () =>
      unwrap(bp.POST("/v1/manifest/plan", { body: { manifest } })),
    )) as Plan;
    if (!ctx.json) printPlan(ctx.io, planned);
    if (planned.changes.length === 0) {
      if (ctx.json) printJson(ctx.io, { ...planned, applied: false });
      return EXIT.ok;
    }
    if (!ctx.flags.yes) {
      if (!ctx.io.interactive || !ctx.io.stdin)
        throw new UsageError("Not a terminal: pass --yes to apply without confirmation.");
      if (!(await confirm(ctx.io, `Apply ${planned.changes.length} change(s) to ${planned.environmentId}? [y/N] `))) {
        ctx.io.err("Nothing applied.");
        return EXIT.failure;
      }
    }
    const liveHash = (ctx.flags["live-hash"] as string | undefined) ?? planned.liveHash;
    const allowDestructive = Boolean(ctx.flags["allow-destructive"]);
    const applied = await reach(connection, () =>
      unwrap(bp.POST("/v1/manifest/apply", { body: { manifest, liveHash, allowDestructive } })),
    );
    if (ctx.json) printJson(ctx.io, { ...applied, applied: true });
    else
      ctx.io.out(
        `Applied ${applied.summary.changes} change(s) to ${applied.environmentId}; audited as manifest.applied.`,
      );
    return EXIT.ok;
  },
});

const exportCommand = defineCommand({
  name: "manifest export",
  section: "remote",
  remote: true,
  json: true,
  summary: "Write the environment's live configuration as a manifest.",
  flags: { out: { type: "string", short: "o", value: "FILE", description: "Write to FILE instead of stdout." } },
  async run(ctx) {
    const { bp, connection } = connect(ctx);
    const exported = await reach(connection, () => unwrap(bp.GET("/v1/manifest")));
    if (ctx.json) {
      printJson(ctx.io, exported);
      return EXIT.ok;
    }
    const yaml = toYaml(exported.manifest as Sections, {
      schemaUrl: `${connection.url.replace(/\/$/, "")}/v1/manifest/schema`,
    });
    for (const o of exported.omitted) ctx.io.err(`Left out ${o.section}: ${o.reason}`);
    if (ctx.flags.out) {
      writeFileSync(ctx.flags.out as string, yaml);
      ctx.io.err(
        `Wrote ${ctx.flags.out} (${Object.keys(exported.manifest).join(", ")}) from ${exported.environmentId}.`,
      );
    } else ctx.io.out(yaml.trimEnd());
    return EXIT.ok;
  },
});

const schemaCommand = defineCommand({
  name: "manifest schema",
  section: "remote",
  remote: true,
  summary: "Print the JSON Schema of baseplate.yaml (for editors and agents).",
  flags: { out: { type: "string", short: "o", value: "FILE", description: "Write to FILE instead of stdout." } },
  async run(ctx) {
    const { bp, connection } = connect(ctx);
    const schema = await reach(connection, () => unwrap(bp.GET("/v1/manifest/schema")));
    const text = `${JSON.stringify(schema, null, 2)}\n`;
    if (ctx.flags.out) writeFileSync(ctx.flags.out as string, text);
    else ctx.io.out(text.trimEnd());
    return EXIT.ok;
  },
});

async function confirm(io: CliIo, question: string): Promise<boolean> {
  const rl = createInterface({ input: io.stdin as NodeJS.ReadableStream, terminal: false });
  io.err(question);
  const answer = await new Promise<string>((resolve) => rl.once("line", resolve).once("close", () => resolve("")));
  rl.close();
  return /^y(es)?$/i.test(answer.trim());
}

/** manifestCommands: plan, apply, export and the schema of the manifest, through the API. */
export const manifestCommands = [plan, apply, exportCommand, schemaCommand];
