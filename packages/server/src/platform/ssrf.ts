import { lookup as dnsLookup } from "node:dns";
import { BlockList, isIP } from "node:net";
import { domainToUnicode } from "node:url";

/**
 * SSRF policy for outbound requests to addresses a client configured (checklist A3): webhook
 * targets, OIDC issuers. A target address is one of:
 * - `public`: routable on the internet — always allowed;
 * - `private`: loopback, RFC 1918, link-local, CGNAT 100.64/10, unique-local fc00::/7, … —
 *   allowed only when the caller says so (`BASEPLATE_WEBHOOKS_ALLOW_PRIVATE_TARGETS`,
 *   `BASEPLATE_OIDC_ALLOW_INSECURE_ISSUERS`);
 * - `forbidden`: cloud metadata services, unspecified, multicast, broadcast and reserved ranges —
 *   never allowed.
 * IPv4-mapped (and -compatible, NAT64) IPv6 addresses are classified as the IPv4 address they carry.
 * The check runs on every address a name resolves to, in the connection's own `lookup`, so the
 * address dialled is the address checked (no DNS rebinding between check and connect); a name
 * whose answers mix public and private addresses is refused.
 */
export type AddressClass = "public" | "private" | "forbidden";

const FORBIDDEN = new BlockList();
const PRIVATE = new BlockList();

// Metadata services first: they sit inside private ranges but are never allowed.
for (const ip of ["169.254.169.254", "169.254.170.2", "169.254.169.123", "100.100.100.200", "192.0.0.192"]) {
  FORBIDDEN.addAddress(ip, "ipv4");
}
for (const ip of ["fd00:ec2::254", "fd00:ec2::23"]) FORBIDDEN.addAddress(ip, "ipv6");
for (const [net, prefix] of [
  ["0.0.0.0", 8], // "this network", incl. 0.0.0.0
  ["224.0.0.0", 4], // multicast
  ["240.0.0.0", 4], // reserved, incl. 255.255.255.255
] as const) {
  FORBIDDEN.addSubnet(net, prefix, "ipv4");
}
for (const [net, prefix] of [
  ["::", 128], // unspecified
  ["ff00::", 8], // multicast
  ["100::", 64], // discard-only
  ["2001:db8::", 32], // documentation
] as const) {
  FORBIDDEN.addSubnet(net, prefix, "ipv6");
}
for (const [net, prefix] of [
  ["10.0.0.0", 8],
  ["100.64.0.0", 10], // CGNAT (shared address space)
  ["127.0.0.0", 8],
  ["169.254.0.0", 16],
  ["172.16.0.0", 12],
  ["192.0.0.0", 24], // IETF protocol assignments
  ["192.0.2.0", 24], // documentation
  ["192.88.99.0", 24], // 6to4 relay anycast
  ["192.168.0.0", 16],
  ["198.18.0.0", 15], // benchmarking
  ["198.51.100.0", 24], // documentation
  ["203.0.113.0", 24], // documentation
] as const) {
  PRIVATE.addSubnet(net, prefix, "ipv4");
}
for (const [net, prefix] of [
  ["::1", 128],
  ["fc00::", 7], // unique local
  ["fe80::", 10], // link-local
  ["fec0::", 10], // site-local (deprecated)
  ["2001::", 23], // IETF protocol assignments (Teredo, ORCHID, …)
  ["2002::", 16], // 6to4
] as const) {
  PRIVATE.addSubnet(net, prefix, "ipv6");
}

/** classifyAddress classifies an IP address (v4 or v6, any textual form Node accepts). Not an IP → forbidden. */
export function classifyAddress(address: string): AddressClass {
  const bare = address.replace(/^\[|\]$/g, "").replace(/%.*$/, "");
  const family = isIP(bare);
  if (family === 4) return classifyV4(bare);
  if (family !== 6) return "forbidden";
  const groups = expandIPv6(bare);
  if (!groups) return "forbidden";
  const embedded = embeddedIPv4(groups);
  if (embedded) return classifyV4(embedded);
  if (FORBIDDEN.check(bare, "ipv6")) return "forbidden";
  if (PRIVATE.check(bare, "ipv6")) return "private";
  return "public";
}

function classifyV4(address: string): AddressClass {
  if (FORBIDDEN.check(address, "ipv4")) return "forbidden";
  if (PRIVATE.check(address, "ipv4")) return "private";
  return "public";
}

/** isAllowedAddress applies the policy: public always, private only when allowed, forbidden never. */
export function isAllowedAddress(address: string, allowPrivate: boolean): boolean {
  const c = classifyAddress(address);
  return c === "public" || (c === "private" && allowPrivate);
}

/** expandIPv6 returns the eight 16-bit groups of an IPv6 address, or null. */
function expandIPv6(address: string): number[] | null {
  let text = address.toLowerCase();
  const v4 = text.match(/(\d+\.\d+\.\d+\.\d+)$/);
  if (v4) {
    const parts = (v4[1] as string).split(".").map(Number);
    text = `${text.slice(0, -(v4[1] as string).length)}${(((parts[0] ?? 0) << 8) | (parts[1] ?? 0)).toString(16)}:${(((parts[2] ?? 0) << 8) | (parts[3] ?? 0)).toString(16)}`;
  }
  const [head, tail] = text.split("::") as [string, string | undefined];
  const h = head ? head.split(":") : [];
  const t = tail !== undefined ? (tail ? tail.split(":") : []) : [];
  const missing = 8 - h.length - t.length;
  if (tail === undefined ? h.length !== 8 : missing < 1) return null;
  const groups = [...h, ...Array(tail === undefined ? 0 : missing).fill("0"), ...t].map((g) => Number.parseInt(g, 16));
  return groups.length === 8 && groups.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff) ? groups : null;
}

/** embeddedIPv4 returns the IPv4 address of a mapped (::ffff:0:0/96), compatible (::/96) or NAT64 (64:ff9b::/96) address. */
function embeddedIPv4(g: number[]): string | null {
  const zeroPrefix = g.slice(0, 5).every((x) => x === 0);
  const mapped = zeroPrefix && g[5] === 0xffff;
  const compatible = zeroPrefix && g[5] === 0 && ((g[6] ?? 0) !== 0 || (g[7] ?? 0) > 1);
  const nat64 = g[0] === 0x64 && g[1] === 0xff9b && g.slice(2, 6).every((x) => x === 0);
  if (!mapped && !compatible && !nat64) return null;
  const hi = g[6] ?? 0;
  const lo = g[7] ?? 0;
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

/** Resolver answers every address of a host name (injected in tests). */
export type Resolver = (hostname: string) => Promise<Array<{ address: string; family: number }>>;

export const systemResolver: Resolver = (hostname) =>
  new Promise((resolve, reject) => {
    dnsLookup(hostname, { all: true, verbatim: true }, (err, addresses) => (err ? reject(err) : resolve(addresses)));
  });

export class TargetRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TargetRefusedError";
  }
}

/**
 * normalHost is the host a URL names, in the one spelling every check compares: the WHATWG URL
 * parser has already lower-cased it, applied IDNA (so `ⓛocalhost` and `localhost。` are
 * `localhost.`), decoded percent-escapes and normalised IP literals (`0x7f000001` is `127.0.0.1`);
 * this drops IPv6 brackets and the trailing dots of a fully-qualified name (`localhost.` is
 * `localhost`), so no spelling reaches a check that its plain form would fail.
 */
export function normalHost(url: URL): string {
  return url.hostname.replace(/^\[|\]$/g, "").replace(/\.+$/, "");
}

/**
 * hostSpellings is a host as checks must see it: `normalHost`, and its Unicode form when an IDNA
 * label (`xn--…`) decodes to something else. The URL parser keeps an A-label as it is, but one such
 * as `xn--localhost-` is the Unicode `localhost`, which any component applying ToUnicode (a proxy,
 * a resolver) would treat as such.
 */
function hostSpellings(url: URL): string[] {
  const host = normalHost(url);
  const unicode = host.includes("xn--") ? domainToUnicode(host).replace(/\.+$/, "") : host;
  return unicode === host || unicode === "" ? [host] : [host, unicode];
}

/**
 * checkUrl validates a webhook URL without resolving it: http(s) only, no credentials in the URL,
 * no `localhost` names, no single-label (intranet) names and no refused IP literal, whatever the
 * host's spelling (see `normalHost`), in its ASCII and its Unicode form (see `hostSpellings`).
 * Returns the reason it is refused, or null. Connections are checked again against every resolved
 * address (`guardedLookup`).
 */
export function checkUrl(raw: string, allowPrivate: boolean): string | null {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return "is not a valid URL";
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") return "must use http or https";
  if (url.username || url.password) return "must not carry credentials (send them as custom headers)";
  if (normalHost(url) === "") return "must name a host";
  for (const host of hostSpellings(url)) {
    if (isIP(host)) {
      if (!isAllowedAddress(host, allowPrivate)) return `targets a ${classifyAddress(host)} address (${host})`;
      continue;
    }
    if (!allowPrivate && (host === "localhost" || host.endsWith(".localhost") || !host.includes("."))) {
      return "must name a public host";
    }
  }
  return null;
}

/**
 * guardedLookup is a `lookup` for `http.request` that resolves with `resolver` and refuses the
 * connection when any answer is not allowed.
 */
export function guardedLookup(resolver: Resolver, allowPrivate: boolean) {
  return (
    hostname: string,
    options: { all?: boolean } | number,
    callback: (
      err: Error | null,
      address: string | Array<{ address: string; family: number }>,
      family?: number,
    ) => void,
  ): void => {
    resolver(hostname).then(
      (answers) => {
        if (answers.length === 0) return callback(new TargetRefusedError(`${hostname} has no address`), "", 4);
        const refused = answers.find((a) => !isAllowedAddress(a.address, allowPrivate));
        if (refused) {
          return callback(
            new TargetRefusedError(`${hostname} resolves to a ${classifyAddress(refused.address)} address`),
            "",
            4,
          );
        }
        if (typeof options === "object" && options.all) return callback(null, answers);
        const first = answers[0] as { address: string; family: number };
        callback(null, first.address, first.family);
      },
      (err: Error) => callback(err, "", 4),
    );
  };
}
