import { type Baseplate, BaseplateProblem, createBaseplate } from "@baseplate/sdk";
import { VERSION } from "../../app.js";
import type { CommandContext } from "../command.js";
import { EXIT } from "../command.js";
import type { CliIo } from "../io.js";
import { type Connection, resolveConnection } from "./profiles.js";

/** NotSignedIn: a remote command has no plane to talk to (exit 4). */
export class NotSignedIn extends Error {
  constructor() {
    super(
      "Not signed in: run `baseplate login --url URL --key KEY`, or set BASEPLATE_URL and BASEPLATE_API_KEY, or pass --url and --key.",
    );
  }
}

/** Unreachable: the plane did not answer (exit 4). */
export class Unreachable extends Error {}

/** clientFor builds the SDK client of a connection (the CLI names itself in the User-Agent). */
export function clientFor(connection: Connection): Baseplate {
  return createBaseplate({
    baseUrl: connection.url,
    token: connection.key,
    userAgent: `baseplate-cli/${VERSION}`,
    ...(connection.environment ? { environmentId: connection.environment } : {}),
  });
}

/**
 * connect resolves the command's plane (flags, environment, profile) and returns its client.
 * Throws NotSignedIn when there is none.
 */
export function connect(ctx: Pick<CommandContext, "io" | "flags">): { bp: Baseplate; connection: Connection } {
  const connection = resolveConnection(ctx.io.env, ctx.flags);
  if (!connection) throw new NotSignedIn();
  return { bp: clientFor(connection), connection };
}

/**
 * reach runs one call to the plane, turning a network failure (refused, unknown host, timeout)
 * into Unreachable naming the URL. Problems (BaseplateProblem) pass through.
 */
export async function reach<T>(connection: Pick<Connection, "url">, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof BaseplateProblem) throw err;
    const e = err as Error & { cause?: { code?: string; message?: string } };
    if (e instanceof TypeError || e?.name === "TimeoutError" || e?.cause?.code) {
      const why = e.cause?.code ?? e.cause?.message ?? e.message;
      throw new Unreachable(`Cannot reach the plane at ${connection.url} (${why}).`);
    }
    throw err;
  }
}

/**
 * reportRemote prints an error of a remote command and returns its exit code, or null for an
 * error it does not know: a problem from the plane is `Error: <detail> (<code>, request <id>)`
 * and exit 1; not signed in and unreachable exit 4.
 */
export function reportRemote(io: CliIo, err: unknown): number | null {
  if (err instanceof BaseplateProblem) {
    io.err(`Error: ${err.detail} (${err.code}${err.requestId ? `, request ${err.requestId}` : ""})`);
    for (const f of err.errors ?? []) io.err(`  ${f.path || "(body)"}: ${f.message}`);
    return EXIT.failure;
  }
  if (err instanceof NotSignedIn || err instanceof Unreachable) {
    io.err(`Error: ${err.message}`);
    return EXIT.offline;
  }
  return null;
}

/** when shows a timestamp of the API (ISO 8601, or epoch milliseconds from older planes) as ISO 8601. */
export function when(value: unknown): string | null {
  if (typeof value === "number") return new Date(value).toISOString();
  if (typeof value === "string") return value;
  return null;
}
