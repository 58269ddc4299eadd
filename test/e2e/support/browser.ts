import { execFileSync } from "node:child_process";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import puppeteer, { type Browser, type Page } from "puppeteer-core";

/** Screenshots of the browser tests (gitignored). */
export const SCREENSHOT_DIR = fileURLToPath(new URL("../../../test-results/console/", import.meta.url));

/** Debian's chromium (`.ci/run` installs it), or CHROMIUM_PATH. */
export function chromiumPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.CHROMIUM_PATH) return env.CHROMIUM_PATH;
  try {
    return execFileSync("sh", ["-c", "command -v chromium"], { encoding: "utf8" }).trim();
  } catch {
    throw new Error("no chromium: install Debian's chromium package (.ci/run does) or set CHROMIUM_PATH");
  }
}

export interface ConsoleBrowser {
  readonly browser: Browser;
  readonly page: Page;
  /** Every URL the page requested, in order. */
  readonly requests: string[];
  screenshot(name: string): Promise<string>;
  close(): Promise<void>;
}

/** A real headless Chromium with one page that records the requests it makes. */
export async function launchConsoleBrowser(): Promise<ConsoleBrowser> {
  const browser = await puppeteer.launch({
    executablePath: chromiumPath(),
    headless: true,
    args: [
      "--headless=new",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-dev-shm-usage",
      "--disable-background-networking",
      "--no-first-run",
    ],
  });
  const page = await browser.newPage();
  await page.setViewport({ width: 1360, height: 1000 });
  const requests: string[] = [];
  page.on("request", (request) => {
    requests.push(request.url());
  });
  await mkdir(SCREENSHOT_DIR, { recursive: true });
  return {
    browser,
    page,
    requests,
    screenshot: async (name) => {
      const file = path.join(SCREENSHOT_DIR, `${name}.png`);
      await page.screenshot({ path: file, fullPage: true });
      return file;
    },
    close: () => browser.close(),
  };
}
