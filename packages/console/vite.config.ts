import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

// The console is served by the plane under /console, the tenant portal's page (portal.html) at
// /portal, its files under /console too (packages/server/src/platform/http/console.ts).
// JSX is compiled by Vite's own transformer for Preact's automatic runtime: no Babel, no plugin.
// `npm run dev --workspace @baseplate/console` serves it with the API proxied to a local plane
// (BASEPLATE_URL, default http://127.0.0.1:8080).
export default defineConfig({
  base: "/console/",
  resolve: {
    alias: { "node:crypto": fileURLToPath(new URL("src/node-crypto.ts", import.meta.url)) },
  },
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    // Hashed file names under assets/: the plane serves them as immutable.
    assetsDir: "assets",
    // Inline nothing: the Content-Security-Policy allows scripts, styles and images from 'self' only.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    // Two pages: the operator console (/console) and the tenant portal (/portal), sharing chunks.
    rollupOptions: {
      input: {
        console: fileURLToPath(new URL("index.html", import.meta.url)),
        portal: fileURLToPath(new URL("portal.html", import.meta.url)),
      },
    },
    reportCompressedSize: false,
  },
  server: {
    proxy: {
      "/v1": { target: process.env.BASEPLATE_URL ?? "http://127.0.0.1:8080", changeOrigin: false },
    },
  },
});
