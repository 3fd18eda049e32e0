import http from "node:http";
import https from "node:https";
import { isIP } from "node:net";
import * as client from "openid-client";
import { checkUrl, guardedLookup, normalHost, type Resolver, systemResolver } from "../../../platform/ssrf.js";

/** DISCOVERY_TTL_MS: how long a discovered issuer's metadata (and its key set) is reused. */
const DISCOVERY_TTL_MS = 60 * 60_000;
/** MAX_CACHED: discovered configurations kept at once (the oldest is dropped). */
const MAX_CACHED = 500;
/** MAX_RESPONSE_BYTES: the largest answer read from an IdP (metadata, keys, tokens). */
const MAX_RESPONSE_BYTES = 1024 * 1024;
/** TIMEOUT_SECONDS: each request to an IdP. */
const TIMEOUT_SECONDS = 10;

/** IssuerPolicy: whether an issuer may be plain http on a private address (development and tests). */
export interface IssuerPolicy {
  insecure: boolean;
}

/**
 * issuerRefusal tells why an issuer URL is refused, or null: https only (http only when `insecure`),
 * no credentials, query or fragment, and the SSRF policy of `platform/ssrf.ts` (private and
 * loopback hosts only when `insecure`; metadata addresses never).
 */
export function issuerRefusal(issuer: string, policy: IssuerPolicy): string | null {
  let url: URL;
  try {
    url = new URL(issuer);
  } catch {
    return "is not a valid URL";
  }
  if (url.protocol !== "https:" && !(policy.insecure && url.protocol === "http:")) return "must use https";
  if (url.search || url.hash) return "must not carry a query or a fragment";
  return checkUrl(issuer, policy.insecure);
}

/** ProviderClient: what discovery needs of a provider (its row's version keys the cache). */
export interface ProviderClient {
  id: string;
  updatedAt: number;
  issuer: string;
  clientId: string;
  clientSecret: string;
}

/**
 * IssuerDirectory discovers OIDC issuers (openid-client `discovery`) and caches each provider's
 * configuration for an hour (keyed by its id and version, so an update is seen at once in this
 * process and within the hour elsewhere). Every request to an IdP goes through `guardedFetch`:
 * the address connected to is checked against the SSRF policy, answers are bounded in size and
 * time. Throws what openid-client throws; the caller maps it.
 */
export class IssuerDirectory {
  readonly #cache = new Map<string, { at: number; config: Promise<client.Configuration> }>();

  constructor(
    private readonly now: () => number,
    private readonly resolver: Resolver = systemResolver,
  ) {}

  async configuration(provider: ProviderClient, policy: IssuerPolicy): Promise<client.Configuration> {
    const key = `${provider.id}:${provider.updatedAt}:${policy.insecure}`;
    const now = this.now();
    const hit = this.#cache.get(key);
    if (hit && now - hit.at < DISCOVERY_TTL_MS) return hit.config;
    const fetch = guardedFetch(policy.insecure, this.resolver);
    const config = client.discovery(
      new URL(provider.issuer),
      provider.clientId,
      provider.clientSecret,
      client.ClientSecretPost(provider.clientSecret),
      {
        execute: policy.insecure ? [client.allowInsecureRequests] : [],
        [client.customFetch]: fetch,
        timeout: TIMEOUT_SECONDS,
      },
    );
    this.#cache.delete(key);
    this.#cache.set(key, { at: now, config });
    while (this.#cache.size > MAX_CACHED) this.#cache.delete(this.#cache.keys().next().value as string);
    config.catch(() => {
      if (this.#cache.get(key)?.config === config) this.#cache.delete(key);
    });
    return config;
  }
}

type FetchBody = string | URLSearchParams | Uint8Array | ArrayBuffer | null | undefined;

/**
 * guardedFetch is a fetch for openid-client that dials through `guardedLookup` (every resolved
 * address checked, so DNS rebinding cannot reach a refused one), refuses URLs `checkUrl` refuses
 * (IP literals included), follows no redirect, and reads at most MAX_RESPONSE_BYTES.
 */
export function guardedFetch(allowPrivate: boolean, resolver: Resolver): client.CustomFetch {
  const lookup = guardedLookup(resolver, allowPrivate) as unknown as http.RequestOptions["lookup"];
  return (url, options) =>
    new Promise<Response>((resolve, reject) => {
      const refusal = checkUrl(url, allowPrivate);
      if (refusal) return reject(new Error(`The IdP URL ${refusal}`));
      const target = new URL(url);
      const headers: Record<string, string> = {};
      new Headers(options.headers as ConstructorParameters<typeof Headers>[0]).forEach((value, name) => {
        headers[name] = value;
      });
      const raw = options.body as FetchBody;
      let body: Buffer | undefined;
      if (typeof raw === "string") body = Buffer.from(raw);
      else if (raw instanceof URLSearchParams) {
        body = Buffer.from(raw.toString());
        headers["content-type"] ??= "application/x-www-form-urlencoded;charset=UTF-8";
      } else if (raw instanceof Uint8Array) body = Buffer.from(raw);
      else if (raw instanceof ArrayBuffer) body = Buffer.from(new Uint8Array(raw));
      if (body) headers["content-length"] = String(body.length);
      const host = normalHost(target);
      const request = (target.protocol === "https:" ? https : http).request(
        target,
        {
          method: options.method,
          headers: { "user-agent": "Baseplate-OIDC/1", ...headers },
          lookup,
          ...(options.signal ? { signal: options.signal } : {}),
          ...(isIP(host) ? {} : { servername: host }),
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on("data", (chunk: Buffer) => {
            size += chunk.length;
            if (size > MAX_RESPONSE_BYTES) {
              res.destroy();
              reject(new Error("The IdP's answer is too large"));
              return;
            }
            chunks.push(chunk);
          });
          res.on("error", reject);
          res.on("end", () => {
            const status = res.statusCode ?? 502;
            const out = new Headers();
            for (const [name, value] of Object.entries(res.headers)) {
              if (value === undefined) continue;
              for (const v of Array.isArray(value) ? value : [value]) out.append(name, v);
            }
            const nullBody = status === 204 || status === 304 || (status >= 100 && status < 200);
            try {
              resolve(
                new Response(nullBody ? null : Buffer.concat(chunks), {
                  status: status < 200 ? 502 : status,
                  statusText: res.statusMessage ?? "",
                  headers: out,
                }),
              );
            } catch (err) {
              reject(err);
            }
          });
        },
      );
      request.on("error", reject);
      request.end(body);
    });
}
