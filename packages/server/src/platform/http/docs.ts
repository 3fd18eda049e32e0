import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";

const require = createRequire(import.meta.url);

const ASSETS: Record<string, string> = {
  "swagger-ui.css": "text/css; charset=utf-8",
  "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
  "swagger-ui-standalone-preset.js": "text/javascript; charset=utf-8",
};

/**
 * DocsAssets serves the interactive API docs (Swagger UI) from the installed `swagger-ui-dist`
 * package: no CDN, so `/docs` works offline and under a strict Content-Security-Policy.
 */
export class DocsAssets {
  readonly #dir: string;
  readonly #cache = new Map<string, Buffer>();

  constructor() {
    // The path helper alone: requiring the package's main loads the whole UI bundle (~12 MB).
    this.#dir = (require("swagger-ui-dist/absolute-path.js") as () => string)();
  }

  /** asset returns a static asset by file name, or null for any name not on the allowlist. */
  asset(name: string): { body: Buffer; contentType: string } | null {
    const contentType = ASSETS[name];
    if (!contentType) return null;
    let body = this.#cache.get(name);
    if (!body) {
      body = readFileSync(join(this.#dir, name));
      this.#cache.set(name, body);
    }
    return { body, contentType };
  }

  static readonly html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Baseplate API</title>
<link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
<div id="docs"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body>
</html>`;

  /**
   * init starts Swagger UI on the document: the getting-started guide (info.description) on top,
   * tags in the document's reading order, operations folded until opened, and "Try it out" with
   * request durations.
   */
  static readonly init =
    `window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#docs", deepLinking: true, persistAuthorization: false, docExpansion: "none", defaultModelsExpandDepth: 0, displayRequestDuration: true, filter: true });`;

  static readonly csp =
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'";
}
