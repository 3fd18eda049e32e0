import { type Baseplate, unwrap } from "@baseplate/sdk";
import { defineCommand, EXIT, UsageError } from "../command.js";
import { details, printJson } from "../io.js";
import { clientFor, connect, reach } from "./client.js";
import { maskKey, PROFILE_NAME, readProfiles, writeProfiles } from "./profiles.js";

/** Identity is what the plane says about a key: its kind and, when it can tell, who. */
interface Identity {
  kind: string;
  who: string | null;
}

/**
 * identify asks the plane about the client's own key: an operator token answers who it is
 * (GET /v1/operator/me); any other key is checked by a call every environment credential may make
 * (POST /v1/credentials/verify about a dummy token). Throws the plane's problem (401 for a wrong key).
 */
async function identify(bp: Baseplate, key: string): Promise<Identity> {
  if (key.startsWith("bp_ot_")) {
    const me = (await unwrap(bp.GET("/v1/operator/me"))) as unknown as { email?: string; id?: string };
    return { kind: "operator token", who: me.email ?? me.id ?? null };
  }
  await unwrap(bp.POST("/v1/credentials/verify", { body: { token: "bp_st_baseplate_cli_probe" } }));
  const kind = key.startsWith("bp_sk_") ? "secret key" : key.startsWith("bp_tk_") ? "tenant key" : "API key";
  return { kind, who: null };
}

const loginCommand = defineCommand({
  name: "login",
  section: "remote",
  summary: "Check an API key against a plane and save it as a named profile.",
  description:
    "The profile goes to $XDG_CONFIG_HOME/baseplate/config.json (else ~/.config/baseplate/config.json),\n" +
    "readable by you only (mode 0600), and becomes the current one. A key the plane refuses is not saved.",
  flags: {
    url: {
      type: "string",
      value: "URL",
      required: true,
      description: "The plane's base URL, e.g. https://api.example.com.",
    },
    key: {
      type: "string",
      value: "KEY",
      required: true,
      description: "The API key (a secret key bp_sk_…, or an operator token).",
    },
    profile: { type: "string", value: "NAME", description: 'The profile\'s name (default "default").' },
    environment: {
      type: "string",
      value: "ENV_ID",
      description: "For an operator token: the environment its commands act in (saved with the profile).",
    },
  },
  json: true,
  examples: [
    "baseplate login --url http://127.0.0.1:8080 --key bp_sk_…",
    "baseplate login --profile prod --url https://api.example.com --key bp_sk_…",
    "baseplate login --profile ops --url https://api.example.com --key bp_ot_… --environment env_…",
  ],
  async run({ io, flags, json }) {
    const name = (flags.profile as string | undefined) ?? "default";
    if (!PROFILE_NAME.test(name)) throw new UsageError(`Bad value for --profile: "${name}" (letters, digits, . _ -).`);
    let url: string;
    try {
      url = new URL(flags.url as string).toString().replace(/\/+$/, "");
    } catch {
      throw new UsageError(`Bad value for --url: "${flags.url as string}" is not a URL. See "baseplate login --help".`);
    }
    const key = flags.key as string;
    const environment = flags.environment as string | undefined;
    if (environment !== undefined && !/^env_[0-9A-Za-z]{1,60}$/.test(environment)) {
      throw new UsageError(`Bad value for --environment: "${environment}" is not an environment id (env_…).`);
    }
    const identity = await reach({ url }, () => identify(clientFor({ url, key, profile: null }), key));
    const file = readProfiles(io.env);
    file.profiles[name] = { url, key, ...(environment ? { environment } : {}), savedAt: new Date().toISOString() };
    file.current = name;
    const path = writeProfiles(io.env, file);
    if (json) printJson(io, { profile: name, url, key: maskKey(key), kind: identity.kind, who: identity.who, path });
    else
      io.out(
        `Signed in to ${url} as ${identity.who ?? identity.kind} (${maskKey(key)}); profile "${name}" saved in ${path}.`,
      );
    return EXIT.ok;
  },
});

const logoutCommand = defineCommand({
  name: "logout",
  section: "remote",
  summary: "Forget a saved profile (the current one, or --profile NAME). The key itself stays valid.",
  flags: { profile: { type: "string", value: "NAME", description: "The profile to forget." } },
  json: true,
  async run({ io, flags, json }) {
    const file = readProfiles(io.env);
    const name = (flags.profile as string | undefined) ?? io.env.BASEPLATE_PROFILE ?? file.current;
    if (!name || !file.profiles[name]) {
      io.err(name ? `baseplate: no profile "${name}".` : "baseplate: not signed in: nothing to forget.");
      return EXIT.failure;
    }
    delete file.profiles[name];
    if (file.current === name) file.current = Object.keys(file.profiles)[0] ?? null;
    writeProfiles(io.env, file);
    if (json) printJson(io, { profile: name, removed: true, current: file.current });
    else
      io.out(
        `Profile "${name}" forgotten.${file.current ? ` Current profile: "${file.current}".` : ""} Revoke the key on the plane if it leaked.`,
      );
    return EXIT.ok;
  },
});

const whoamiCommand = defineCommand({
  name: "whoami",
  section: "remote",
  summary: "Which plane and key the remote commands use, and whether the plane accepts the key.",
  json: true,
  remote: true,
  async run(ctx) {
    const { bp, connection } = connect(ctx);
    const identity = await reach(connection, () => identify(bp, connection.key));
    const answer = {
      url: connection.url,
      profile: connection.profile,
      key: maskKey(connection.key),
      kind: identity.kind,
      who: identity.who,
    };
    if (ctx.json) printJson(ctx.io, answer);
    else
      details(ctx.io, [
        ["Plane", answer.url],
        ["Profile", answer.profile ?? "(none: flags or environment)"],
        ["Key", `${answer.key} (${answer.kind}, accepted)`],
        ...(answer.who ? ([["Who", answer.who]] as Array<[string, unknown]>) : []),
      ]);
    return EXIT.ok;
  },
});

/** sessionCommands: sign in to a plane, out of it, and say where the CLI is signed in. */
export const sessionCommands = [loginCommand, logoutCommand, whoamiCommand];
