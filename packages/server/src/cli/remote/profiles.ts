import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { UsageError } from "../command.js";

/** Profile is one saved plane: where it is and the API key to use there. */
export interface Profile {
  url: string;
  key: string;
  /** environment: the environment an operator token acts in (`Baseplate-Environment`), if any. */
  environment?: string;
  /** savedAt: when `baseplate login` stored it (ISO 8601). */
  savedAt?: string;
}

/** ProfileFile is the CLI's config file: named profiles and the current one. */
export interface ProfileFile {
  current: string | null;
  profiles: Record<string, Profile>;
}

/**
 * configPath is `$XDG_CONFIG_HOME/baseplate/config.json`, else `~/.config/baseplate/config.json`
 * (HOME from `env`, then the operating system's).
 */
export function configPath(env: NodeJS.ProcessEnv): string {
  const base = env.XDG_CONFIG_HOME || join(env.HOME || homedir(), ".config");
  return join(base, "baseplate", "config.json");
}

/** readProfiles reads the config file; a missing file is no profiles. Throws UsageError on a corrupt one. */
export function readProfiles(env: NodeJS.ProcessEnv): ProfileFile {
  const path = configPath(env);
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return { current: null, profiles: {} };
    throw err;
  }
  try {
    const parsed = JSON.parse(text) as Partial<ProfileFile>;
    return { current: parsed.current ?? null, profiles: parsed.profiles ?? {} };
  } catch {
    throw new UsageError(`${path} is not valid JSON: fix it or delete it and run \`baseplate login\` again.`);
  }
}

/**
 * writeProfiles replaces the config file atomically, readable by its owner only (mode 0600, its
 * folder 0700): it holds API keys.
 */
export function writeProfiles(env: NodeJS.ProcessEnv, file: ProfileFile): string {
  const path = configPath(env);
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const temp = `${path}.${process.pid}.tmp`;
  writeFileSync(temp, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600 });
  chmodSync(temp, 0o600);
  renameSync(temp, path);
  return path;
}

/** PROFILE_NAME: what a profile may be called. */
export const PROFILE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** Connection is where a remote command goes and with which key, and where that came from. */
export interface Connection {
  url: string;
  key: string;
  /** profile: the profile used for anything the flags and environment did not give. */
  profile: string | null;
  /** environment: the environment an operator token acts in (sent as `Baseplate-Environment`). */
  environment?: string;
}

/**
 * resolveConnection picks the plane: `--url`/`--key`/`--environment` first, then
 * BASEPLATE_URL/BASEPLATE_API_KEY/BASEPLATE_ENVIRONMENT, then the profile (`--profile`, BASEPLATE_PROFILE, or the current one). Returns null when the URL
 * or the key is missing (not signed in); throws UsageError for a named profile that does not exist.
 */
export function resolveConnection(
  env: NodeJS.ProcessEnv,
  flags: { url?: unknown; key?: unknown; profile?: unknown; environment?: unknown },
): Connection | null {
  const file = readProfiles(env);
  const named = typeof flags.profile === "string" ? flags.profile : env.BASEPLATE_PROFILE || null;
  if (named && !file.profiles[named]) {
    const known = Object.keys(file.profiles);
    throw new UsageError(
      `No profile "${named}"${known.length ? ` (saved: ${known.join(", ")})` : ""}. Sign in with \`baseplate login --profile ${named} --url … --key …\`.`,
    );
  }
  const name = named ?? file.current;
  const profile = name ? file.profiles[name] : undefined;
  const url = (typeof flags.url === "string" ? flags.url : env.BASEPLATE_URL) || profile?.url;
  const key = (typeof flags.key === "string" ? flags.key : env.BASEPLATE_API_KEY) || profile?.key;
  if (!url || !key) return null;
  const environment =
    (typeof flags.environment === "string" ? flags.environment : env.BASEPLATE_ENVIRONMENT) || profile?.environment;
  if (environment !== undefined && !/^env_[0-9A-Za-z]{1,60}$/.test(environment)) {
    throw new UsageError(`Bad value for --environment: "${environment}" is not an environment id (env_…).`);
  }
  return {
    url: url.replace(/\/+$/, ""),
    key,
    profile: profile ? (name as string) : null,
    ...(environment ? { environment } : {}),
  };
}

/** maskKey shows a key's prefix and last four characters only. */
export function maskKey(key: string): string {
  const prefix = /^[a-z]+_[a-z]+_/.exec(key)?.[0] ?? "";
  return `${prefix}…${key.slice(-4)}`;
}
