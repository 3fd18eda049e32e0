import { unwrap } from "@baseplate/sdk";
import { defineCommand, EXIT } from "../command.js";
import { type CliIo, details, printJson, table } from "../io.js";
import { connect, reach, when } from "./client.js";
import { LIMIT_FLAG, pageSize, take } from "./list.js";

/** showUser prints one user for a person. */
function showUser(io: CliIo, u: { id: string; email: string } & Record<string, unknown>): void {
  details(io, [
    ["User", u.id],
    ["Email", `${u.email}${u.emailVerified ? " (verified)" : ""}`],
    ["Name", u.name],
    ["Password", u.hasPassword ? "set" : "none"],
    ["Disabled", u.disabled ? "yes" : "no"],
    ["Created", when(u.createdAt)],
  ]);
}

const list = defineCommand({
  name: "users list",
  section: "remote",
  remote: true,
  json: true,
  summary: "List the environment's users.",
  flags: {
    email: { type: "string", value: "EMAIL", description: "Only the user with this email." },
    search: { type: "string", value: "TEXT", description: "Only users whose email or name contains TEXT." },
    limit: LIMIT_FLAG,
  },
  async run(ctx) {
    const { bp, connection } = connect(ctx);
    const max = (ctx.flags.limit as number | undefined) ?? 50;
    const query = {
      limit: pageSize(max),
      ...(ctx.flags.email ? { email: ctx.flags.email as string } : {}),
      ...(ctx.flags.search ? { q: ctx.flags.search as string } : {}),
    };
    const users = await reach(connection, () => take(bp.paginate("/v1/users", { query }), max));
    if (ctx.json) printJson(ctx.io, users);
    else
      table(
        ctx.io,
        users,
        [
          { heading: "id", value: (u) => u.id },
          { heading: "email", value: (u) => u.email },
          { heading: "name", value: (u) => u.name },
          { heading: "verified", value: (u) => (u.emailVerified ? "yes" : "no") },
          { heading: "created", value: (u) => when(u.createdAt) },
        ],
        "No users.",
      );
    return EXIT.ok;
  },
});

const create = defineCommand({
  name: "users create",
  section: "remote",
  remote: true,
  json: true,
  summary: "Create a user (without a password they sign in by a link, a passkey or SSO).",
  flags: {
    email: { type: "string", value: "EMAIL", required: true, description: "Their email." },
    name: { type: "string", value: "NAME", description: "Their name." },
  },
  async run(ctx) {
    const { bp, connection } = connect(ctx);
    const body = {
      email: ctx.flags.email as string,
      ...(ctx.flags.name ? { name: ctx.flags.name as string } : {}),
    };
    const user = await reach(connection, () => unwrap(bp.POST("/v1/users", { body })));
    if (ctx.json) printJson(ctx.io, user);
    else showUser(ctx.io, user);
    return EXIT.ok;
  },
});

const show = defineCommand({
  name: "users show",
  section: "remote",
  remote: true,
  json: true,
  summary: "Show one user.",
  args: [{ name: "userId", description: "The user (usr_…)." }],
  async run(ctx) {
    const { bp, connection } = connect(ctx);
    const userId = ctx.args.userId as string;
    const user = await reach(connection, () => unwrap(bp.GET("/v1/users/{userId}", { params: { path: { userId } } })));
    if (ctx.json) printJson(ctx.io, user);
    else showUser(ctx.io, user);
    return EXIT.ok;
  },
});

/** userCommands: list, create and show users through the API. */
export const userCommands = [list, create, show];
