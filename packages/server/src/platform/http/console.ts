import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, extname, join, relative, sep } from "node:path";
import type { FastifyInstance, FastifyReply } from "fastify";

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".woff2": "font/woff2",
  ".json": "application/json; charset=utf-8",
  ".txt": "text/plain; charset=utf-8",
};

/** ConsoleFile is one file of the built console, ready to send. */
export interface ConsoleFile {
  body: Buffer;
  contentType: string;
  cacheControl: string;
}

/**
 * ConsoleAssets serves the operator console (packages/console, built by Vite into its dist/) under
 * `/console`. Only the files found in dist/ at load time are ever served, looked up by name in a
 * table: a request cannot name anything else (no traversal, no directory listing). Files under
 * `assets/` carry a content hash in their name and are immutable; everything else is revalidated.
 * The table is reloaded when index.html changes (a rebuild while the plane runs). A path that names
 * no file and has no extension is a client route: it gets index.html.
 */
export class ConsoleAssets {
  readonly #dir: string;
  #files = new Map<string, ConsoleFile>();
  #stamp = "";

  /** dir: the built console (default: the dist/ of the installed @baseplate/console). */
  constructor(dir?: string) {
    this.#dir = dir ?? ConsoleAssets.defaultDir();
  }

  static defaultDir(): string {
    try {
      const pkg = createRequire(import.meta.url).resolve("@baseplate/console/package.json");
      return join(dirname(pkg), "dist");
    } catch {
      // Not linked as a package (a server copied on its own): the monorepo layout.
      return join(dirname(new URL(import.meta.url).pathname), "..", "..", "..", "..", "console", "dist");
    }
  }

  /** built tells whether a built console is there to serve. */
  built(): boolean {
    return this.#load();
  }

  /**
   * file answers a path under /console ("" for the root, "assets/index-1a2b.js", "projects/prj_1"),
   * or null when there is nothing to serve (not built, or a missing file with an extension).
   */
  file(path: string): ConsoleFile | null {
    if (!this.#load()) return null;
    const exact = this.#files.get(path);
    if (exact) return exact;
    if (path.startsWith("assets/") || extname(path) !== "") return null;
    return this.#files.get("index.html") ?? null;
  }

  #load(): boolean {
    const index = join(this.#dir, "index.html");
    let stamp: string;
    try {
      const s = statSync(index);
      stamp = `${s.mtimeMs}:${s.size}`;
    } catch {
      this.#files = new Map();
      this.#stamp = "";
      return false;
    }
    if (stamp === this.#stamp) return true;
    const files = new Map<string, ConsoleFile>();
    for (const path of walk(this.#dir)) {
      const name = relative(this.#dir, path).split(sep).join("/");
      const contentType = TYPES[extname(name)];
      if (!contentType) continue;
      const immutable = name.startsWith("assets/");
      files.set(name, {
        body: readFileSync(path),
        contentType,
        cacheControl: immutable ? "public, max-age=31536000, immutable" : "no-cache",
      });
    }
    this.#files = files;
    this.#stamp = stamp;
    return true;
  }

  /** csp: the console's Content-Security-Policy (nothing inline, nothing from elsewhere). */
  static readonly csp =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

  /**
   * portalCsp: the tenant portal's Content-Security-Policy: the console's, with the surface's logo
   * allowed from any https origin (its theme names it; nothing else loads from elsewhere).
   */
  static readonly portalCsp =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

  /** notBuilt is the page /console answers while the console has not been built. */
  static readonly notBuilt = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Baseplate console: not built</title></head>
<body>
<h1>The Baseplate console is not built</h1>
<p>This plane serves the operator console from <code>packages/console/dist</code>, which does not exist yet.</p>
<p>Build it from the repository root with <code>npm install</code> (it builds every package) or
<code>npm run build --workspace @baseplate/console</code>, then reload this page.</p>
</body>
</html>`;
}

/**
 * registerConsole serves the console at `/console` and `/console/*` (client routes get index.html),
 * every answer with the console's Content-Security-Policy, and the tenant portal's page at `/portal`
 * (its token travels in the URL's fragment, which no request carries; the page sends no referrer).
 * Until the console is built, both answer 503 with a page that says how to build it.
 */
export function registerConsole(fastify: FastifyInstance, assets: ConsoleAssets): void {
  const serve = async (path: string, reply: FastifyReply, csp = ConsoleAssets.csp) => {
    reply.header("content-security-policy", csp);
    if (!assets.built()) {
      return reply
        .code(503)
        .type("text/html; charset=utf-8")
        .header("cache-control", "no-store")
        .send(ConsoleAssets.notBuilt);
    }
    const file = assets.file(path);
    if (!file) return reply.callNotFound();
    return reply.type(file.contentType).header("cache-control", file.cacheControl).send(file.body);
  };
  fastify.get("/console", { config: { accessLog: false } }, (_req, reply) => serve("index.html", reply));
  fastify.get("/portal", { config: { accessLog: false } }, (_req, reply) => {
    reply.header("referrer-policy", "no-referrer");
    return serve("portal.html", reply, ConsoleAssets.portalCsp);
  });
  fastify.get<{ Params: { "*": string } }>("/console/*", { config: { accessLog: false } }, (req, reply) =>
    serve(req.params["*"], reply),
  );
}

function* walk(dir: string): Generator<string> {
  if (!existsSync(dir)) return;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    // Regular files and folders only: a symbolic link in dist/ is not followed.
    if (entry.isDirectory()) yield* walk(path);
    else if (entry.isFile()) yield path;
  }
}
