import { userInfo } from "node:os";
import { type App, createApp } from "../app.js";
import { loadConfig } from "../config.js";
import { accessModule } from "../modules/access/index.js";
import type { TenantStateName } from "../modules/tenancy/index.js";
import { tenancyModule } from "../modules/tenancy/index.js";
import { AppError } from "../platform/errors.js";
import { newId } from "../platform/ids.js";
import type { AnyModule } from "../platform/module.js";
import { systemContext } from "../platform/principal.js";
import { type Command, defineCommand, EXIT } from "./command.js";
import { type CliIo, printJson } from "./io.js";

type Values = Record<string, string | boolean | undefined>;

/** cliActor: the CLI acts as a system actor named after the operating-system user (audit shows who). */
function cliContext() {
  let who = "unknown";
  try {
    who = userInfo().username;
  } catch {
    // no passwd entry (containers): keep "unknown"
  }
  return systemContext(newId("request"), `cli:${who}`);
}

async function withApp<T>(io: CliIo, modules: readonly AnyModule[] | undefined, fn: (app: App) => Promise<T>) {
  const config = loadConfig(io.env);
  const app = await createApp({ config: { ...config, logLevel: "warn" }, ...(modules ? { modules } : {}) });
  try {
    await app.start({ listen: false, workers: false });
    return await fn(app);
  } finally {
    await app.stop();
  }
}

/** transition runs `baseplate tenants suspend|reactivate|deactivate <tenantId>`. */
async function transition(
  io: CliIo,
  sub: string | undefined,
  tenantId: string | undefined,
  values: Values,
  modules?: readonly AnyModule[],
): Promise<number> {
  const to: Record<string, TenantStateName> = { suspend: "suspended", reactivate: "active", deactivate: "deactivated" };
  const target = sub ? to[sub] : undefined;
  if (!target || !tenantId) {
    io.err("baseplate: use `baseplate tenants suspend|reactivate|deactivate <tenantId> [--reason TEXT]`.");
    return 2;
  }
  const reason = typeof values.reason === "string" ? values.reason.trim() : "";
  if (target !== "active" && reason === "") {
    io.err(`baseplate: \`tenants ${sub}\` needs --reason (it is recorded with the state and in the audit trail).`);
    return 2;
  }
  return withApp(io, modules, async (app) => {
    const tenancy = app.service(tenancyModule);
    const tenant = await tenancy.tenants.findTenantAnywhere(tenantId);
    if (!tenant) {
      io.err(`baseplate: no tenant ${tenantId}.`);
      return 1;
    }
    try {
      const after = await tenancy.tenants.transitionTenant(
        cliContext(),
        tenant.environmentId,
        tenant.id,
        target,
        reason === "" ? null : reason,
        target === "active" ? null : values.billing === true ? "billing" : "other",
      );
      if (values.json === true) {
        printJson(io, { ...after, previousState: tenant.state });
        return 0;
      }
      io.out(
        `${after.id} (${after.name}): ${tenant.state} → ${after.state}${after.stateReason ? ` (${after.stateReason})` : ""}`,
      );
      return 0;
    } catch (err) {
      if (err instanceof AppError) {
        io.err(`baseplate: ${err.message}`);
        return 1;
      }
      throw err;
    }
  });
}

/** explain runs `baseplate access explain`. */
async function explain(
  io: CliIo,
  sub: string | undefined,
  values: Values,
  modules?: readonly AnyModule[],
): Promise<number> {
  const str = (k: string) => (typeof values[k] === "string" ? (values[k] as string) : undefined);
  const tenantId = str("tenant");
  const permission = str("permission");
  const subjects = [
    ["user", str("user")],
    ["tenant_key", str("tenant-key")],
    ["agent_key", str("agent-key")],
  ].filter(([, id]) => id !== undefined) as Array<["user" | "tenant_key" | "agent_key", string]>;
  if (sub !== "explain" || !tenantId || !permission || subjects.length !== 1) {
    io.err(
      "baseplate: use `baseplate access explain --tenant ID --permission RESOURCE:ACTION (--user ID | --tenant-key ID | --agent-key ID)`.",
    );
    return 2;
  }
  const [[type, id]] = subjects as [["user" | "tenant_key" | "agent_key", string]];
  return withApp(io, modules, async (app) => {
    const tenancy = app.service(tenancyModule);
    const access = app.service(accessModule);
    const tenant = await tenancy.tenants.findTenantAnywhere(tenantId);
    if (!tenant) {
      io.err(`baseplate: no tenant ${tenantId}.`);
      return 1;
    }
    const e = await access.checks.explainIn(tenant.environmentId, { subject: { type, id }, tenantId, permission });
    if (values.json === true) {
      io.out(JSON.stringify(e, null, 2));
      return e.allowed ? EXIT.ok : EXIT.denied;
    }
    io.out(
      `${e.allowed ? "ALLOWED" : "DENIED"}  ${type} ${id} → ${permission} in ${tenant.id} (${tenant.name}, ${tenant.state})`,
    );
    io.out(`  reason: ${e.reason}: ${e.detail}`);
    for (const m of e.matched)
      io.out(`  matched: ${m.via}${m.role ? ` role "${m.role}"` : ""} grants "${m.grant}"${m.id ? ` (${m.id})` : ""}`);
    return e.allowed ? EXIT.ok : EXIT.denied;
  });
}

const TENANT_ARG = [{ name: "tenantId", description: "The tenant (ten_…), in any environment." }] as const;
const REASON = {
  type: "string",
  value: "TEXT",
  description: "Why (kept with the state and in the audit trail).",
} as const;

/** tenantStateCommands: suspend, reactivate and deactivate a tenant on this machine's database. */
export const tenantStateCommands: Command[] = [
  defineCommand({
    name: "tenants suspend",
    section: "local",
    summary: "Suspend a tenant at once, in every process.",
    description:
      "Its members' sessions, tenant keys and agent keys may only read and export (402 with --billing,\n" +
      "else 403). Nothing is revoked; `tenants reactivate` undoes it.",
    args: TENANT_ARG,
    json: true,
    flags: {
      reason: { ...REASON, required: true },
      billing: { type: "boolean", description: "The reason is billing (402)." },
    },
    run: ({ io, args, flags, json, modules }) =>
      transition(io, "suspend", args.tenantId, { ...(flags as Values), json }, modules),
  }),
  defineCommand({
    name: "tenants reactivate",
    section: "local",
    summary: "Make a suspended tenant active again.",
    args: TENANT_ARG,
    json: true,
    flags: { reason: REASON },
    run: ({ io, args, flags, json, modules }) =>
      transition(io, "reactivate", args.tenantId, { ...(flags as Values), json }, modules),
  }),
  defineCommand({
    name: "tenants deactivate",
    section: "local",
    summary: "Deactivate a tenant (it keeps its data; nothing may act in it).",
    args: TENANT_ARG,
    json: true,
    flags: { reason: { ...REASON, required: true } },
    run: ({ io, args, flags, json, modules }) =>
      transition(io, "deactivate", args.tenantId, { ...(flags as Values), json }, modules),
  }),
];

/** accessExplainCommand: why may (or may not) a user or key do something in a tenant. */
export const accessExplainCommand = defineCommand({
  name: "access explain",
  section: "local",
  summary: "Why may (or may not) this user or key do this in the tenant?",
  description: "Give exactly one of --user, --tenant-key, --agent-key. Exit 0: allowed; 3: denied.",
  json: true,
  flags: {
    tenant: { type: "string", value: "ID", required: true, description: "The tenant." },
    permission: { type: "string", value: "RESOURCE:ACTION", required: true, description: "The permission asked." },
    user: { type: "string", value: "ID", description: "A user of the tenant." },
    "tenant-key": { type: "string", value: "ID", description: "A tenant key." },
    "agent-key": { type: "string", value: "ID", description: "An agent key." },
  },
  run: ({ io, flags, json, modules }) => explain(io, "explain", { ...(flags as Values), json }, modules),
});
