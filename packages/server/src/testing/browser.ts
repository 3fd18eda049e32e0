import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { ConsoleAssets } from "../platform/http/console.js";

/**
 * What the browser tests (console and portal, in a real Chromium driven by playwright-core) share:
 * whether they can run, the browser, a page watched for CSP violations and console errors, and
 * screenshots under `test-results/screenshots/` (git-ignored).
 *
 * They need the Debian `chromium` package and a built console. Without either they are skipped
 * with the reason in their name, except under `CI=true`, where they fail (`.ci/run` installs
 * Chromium and the install step builds the console).
 */

/** CHROMIUM: the Debian package's browser. */
export const CHROMIUM = "/usr/bin/chromium";

/** SHOTS: where screenshots go (`packages/server/test-results/screenshots`). */
export const SHOTS = join(import.meta.dirname, "..", "..", "test-results", "screenshots");

/** browserMissing: what the browser tests lack on this machine (empty: they can run). */
export const browserMissing: string[] = [
  existsSync(CHROMIUM) ? null : `${CHROMIUM} is not installed (apt-get install chromium)`,
  existsSync(join(ConsoleAssets.defaultDir(), "index.html"))
    ? null
    : "the console is not built (npm run build --workspace @baseplate/console)",
].filter((m): m is string => m !== null);

/** browserRuns: whether to declare the browser tests (always under CI, where missing parts fail them). */
export const browserRuns = browserMissing.length === 0 || Boolean(process.env.CI);

/** browserTitle names a browser suite, with the reason when it is skipped. */
export function browserTitle(title: string): string {
  return `${title}${browserRuns ? "" : ` (skipped: ${browserMissing.join("; ")})`}`;
}

/** launchBrowser starts Chromium headless (after failing loudly when it cannot run here). */
export async function launchBrowser(): Promise<Browser> {
  if (browserMissing.length > 0) throw new Error(`Browser tests cannot run: ${browserMissing.join("; ")}.`);
  mkdirSync(SHOTS, { recursive: true });
  return chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"], headless: true });
}

/** WatchedPage: a page, its context, and every CSP violation, console error and page error it met. */
export interface WatchedPage {
  context: BrowserContext;
  page: Page;
  problems: string[];
}

/**
 * watchedPage opens a laptop-sized page (1280 × 800) that records CSP violations, console errors
 * and uncaught page errors in `problems` (each suite ends by expecting none). `ignore` skips
 * console errors the test causes on purpose (a refused call's 401, say).
 */
export async function watchedPage(
  browser: Browser,
  options: {
    acceptDownloads?: boolean;
    ignore?: (text: string, url: string) => boolean;
    /** problems: where to record (a suite watching several pages keeps one list). */
    problems?: string[];
  } = {},
): Promise<WatchedPage> {
  const context = await browser.newContext({
    viewport: { width: 1280, height: 800 },
    ...(options.acceptDownloads ? { acceptDownloads: true } : {}),
  });
  const page = await context.newPage();
  page.setDefaultTimeout(8_000);
  const problems = options.problems ?? [];
  await page.addInitScript(`document.addEventListener("securitypolicyviolation", (e) => {
      console.error("CSP violation: " + e.violatedDirective + " " + e.blockedURI);
    });`);
  page.on("console", (m) => {
    if (m.type() !== "error" || options.ignore?.(m.text(), m.location().url)) return;
    problems.push(`${m.text()} (${m.location().url})`);
  });
  page.on("pageerror", (err) => problems.push(err.message));
  return { context, page, problems };
}

/** screenshot saves the whole page as `SHOTS/<name>.png`. */
export async function screenshot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

/** navigate follows a link of the console's side navigation. */
export async function navigate(page: Page, label: string): Promise<void> {
  await page.getByRole("navigation", { name: "Console" }).getByRole("link", { name: label, exact: true }).click();
}
