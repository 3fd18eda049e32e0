import { generateKeyPairSync, randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import Provider from "oidc-provider";

/** IdpAccount: what the test IdP asserts about a subject. */
export interface IdpAccount {
  email?: string;
  email_verified?: boolean | string;
  name?: string;
}

/** IdpClient: a static client of the test IdP. */
export interface IdpClient {
  clientId: string;
  clientSecret: string;
  redirectUris: string[];
}

/**
 * TestIdp is a real OpenID Connect provider (`oidc-provider`) on 127.0.0.1, for tests: static
 * clients (client_secret_post, code flow, PKCE required), accounts whose claims the test sets
 * (`accounts`), and an interaction endpoint the test drives by HTTP (`signIn`): the login form
 * takes `account`, the consent form grants the requested scopes.
 */
export class TestIdp {
  readonly accounts = new Map<string, IdpAccount>();

  private constructor(
    readonly issuer: string,
    private readonly server: Server,
  ) {}

  static async start(clients: IdpClient[]): Promise<TestIdp> {
    const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const jwk = { ...privateKey.export({ format: "jwk" }), kid: "test", alg: "RS256", use: "sig" };
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    let idp: TestIdp | null = null;
    const provider = new Provider(issuer, {
      clients: clients.map((c) => ({
        client_id: c.clientId,
        client_secret: c.clientSecret,
        redirect_uris: c.redirectUris,
        grant_types: ["authorization_code"],
        response_types: ["code"],
        token_endpoint_auth_method: "client_secret_post",
      })),
      jwks: { keys: [jwk] },
      cookies: { keys: [randomBytes(16).toString("hex")] },
      claims: { openid: ["sub"], email: ["email", "email_verified"], profile: ["name"] },
      conformIdTokenClaims: false,
      pkce: { required: () => true },
      features: { devInteractions: { enabled: false } },
      interactions: { url: (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}` },
      findAccount: async (_ctx: unknown, sub: string) => {
        const account = idp?.accounts.get(sub);
        if (!account) return undefined;
        return { accountId: sub, claims: async () => ({ sub, ...account }) };
      },
    });
    const callback = provider.callback();
    server.on("request", (req, res) => {
      const match = /^\/interaction\/([^/?]+)(\/login|\/confirm)?/.exec(req.url ?? "");
      if (!match) return callback(req, res);
      void (async () => {
        const details = await provider.interactionDetails(req, res);
        if (match[2] === "/login") {
          const account = new URL(req.url ?? "", issuer).searchParams.get("account") ?? "";
          await provider.interactionFinished(
            req,
            res,
            { login: { accountId: account } },
            { mergeWithLastSubmission: false },
          );
        } else if (match[2] === "/confirm") {
          const grant = new provider.Grant({
            accountId: details.session?.accountId ?? "",
            clientId: String(details.params.client_id),
          });
          grant.addOIDCScope(String(details.params.scope));
          const grantId = await grant.save();
          await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
        } else {
          res.writeHead(200, { "content-type": "application/json" });
          res.end(JSON.stringify({ uid: details.uid, prompt: details.prompt.name }));
        }
      })().catch((err: Error) => {
        res.writeHead(500, { "content-type": "text/plain" });
        res.end(err.message);
      });
    });
    idp = new TestIdp(issuer, server);
    return idp;
  }

  /**
   * signIn drives the browser's part of a sign-in: it opens `authorizationUrl`, logs in as
   * `account`, consents, and returns the redirect's query (`code`, `state`, `iss`, or `error`).
   * Redirects are followed by hand with a cookie jar; each step must answer as an IdP does.
   */
  async signIn(authorizationUrl: string, account: string): Promise<URLSearchParams> {
    const jar = new Map<string, string>();
    const go = async (url: string, method = "GET") => {
      const res = await fetch(url, {
        method,
        redirect: "manual",
        headers: { cookie: [...jar].map(([k, v]) => `${k}=${v}`).join("; ") },
        signal: AbortSignal.timeout(5000),
      });
      for (const cookie of res.headers.getSetCookie()) {
        const [pair] = cookie.split(";");
        const at = (pair as string).indexOf("=");
        jar.set((pair as string).slice(0, at), (pair as string).slice(at + 1));
      }
      await res.arrayBuffer();
      return res;
    };
    let res = await go(authorizationUrl);
    for (let step = 0; step < 10; step++) {
      const location = res.headers.get("location");
      if (!location) throw new Error(`The IdP answered ${res.status} without a redirect`);
      const next = new URL(location, this.issuer);
      if (!next.href.startsWith(this.issuer)) return next.searchParams;
      const interaction = /^\/interaction\/([^/?]+)$/.exec(next.pathname);
      if (interaction) {
        const details = (await (
          await fetch(next, { headers: { cookie: [...jar].map(([k, v]) => `${k}=${v}`).join("; ") } })
        ).json()) as {
          prompt: string;
        };
        const action = details.prompt === "login" ? `/login?account=${encodeURIComponent(account)}` : "/confirm";
        res = await go(`${next.href}${action}`, "POST");
      } else {
        res = await go(next.href);
      }
    }
    throw new Error("The IdP redirected too many times");
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
