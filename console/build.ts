/**
 * Builds the console page: esbuild bundles console/src/main.tsx (Preact + uPlot) into console/dist/ beside the
 * page's HTML and uPlot's stylesheet. No dev server: the local API server and `punctual console` serve the
 * files. Runs at `npm start`, and from either server when dist/ is missing or older than its sources.
 * `npx tsx console/build.ts` builds by hand.
 */
import { copyFile, mkdir, readdir, rename, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const CONSOLE_DIR = path.dirname(fileURLToPath(import.meta.url));
export const CONSOLE_DIST = path.join(CONSOLE_DIR, "dist");
const ENTRY = path.join(CONSOLE_DIR, "src", "main.tsx");
/** What the page's bundle is made of besides src/: its shared schemas. */
const SHARED_SOURCES = [
  path.join(CONSOLE_DIR, "schemas.ts"),
  path.join(CONSOLE_DIR, "build.ts"),
  path.join(CONSOLE_DIR, "..", "shared", "domain", "query-integer.ts"),
  // What answers.ts bounds a view's lists and values by, and the escaping of every server text (both import-free).
  path.join(CONSOLE_DIR, "..", "shared", "domain", "view-bounds.ts"),
  path.join(CONSOLE_DIR, "..", "shared", "domain", "visible-text.ts"),
];
const UPLOT_CSS = fileURLToPath(import.meta.resolve("uplot/dist/uPlot.min.css"));

/** Files the servers may send, and their types: nothing else under dist/ is ever read. */
export const CONSOLE_FILES: Readonly<Record<string, string>> = {
  "index.html": "text/html; charset=utf-8",
  "app.js": "text/javascript; charset=utf-8",
  "uplot.css": "text/css; charset=utf-8",
  "console.css": "text/css; charset=utf-8",
};

const INDEX_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Punctual console</title>
<link rel="stylesheet" href="/console/uplot.css">
<link rel="stylesheet" href="/console/console.css">
</head>
<body>
<div id="app">Loading…</div>
<script type="module" src="/console/app.js"></script>
</body>
</html>
`;

/** Bundles into a fresh folder, then swaps it in: a server reading dist/ never sees half a build. */
export async function buildConsole(outdir: string = CONSOLE_DIST): Promise<void> {
  const staging = `${outdir}.tmp-${process.pid}-${Date.now()}`;
  await mkdir(staging, { recursive: true });
  try {
    await build({
      entryPoints: [ENTRY],
      bundle: true,
      format: "esm",
      target: "es2022",
      minify: true,
      jsx: "automatic",
      jsxImportSource: "preact",
      outfile: path.join(staging, "app.js"),
      logLevel: "silent",
    });
    await writeFile(path.join(staging, "index.html"), INDEX_HTML);
    await copyFile(UPLOT_CSS, path.join(staging, "uplot.css"));
    // A file, not a <style> the script adds: the page's policy allows only its own origin's stylesheets.
    await copyFile(path.join(CONSOLE_DIR, "src", "console.css"), path.join(staging, "console.css"));
    await rm(outdir, { recursive: true, force: true });
    await rename(staging, outdir);
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

/** Builds when dist/ is missing or older than any source of the page. */
export async function ensureConsoleBuilt(outdir: string = CONSOLE_DIST): Promise<void> {
  const built = await stat(path.join(outdir, "app.js")).catch(() => undefined);
  if (built && (await newestSourceMs()) <= built.mtimeMs) return;
  await buildConsole(outdir);
}

async function newestSourceMs(): Promise<number> {
  const srcDir = path.join(CONSOLE_DIR, "src");
  const sources = [...(await readdir(srcDir)).map((name) => path.join(srcDir, name)), ...SHARED_SOURCES];
  const times = await Promise.all(sources.map(async (file) => (await stat(file)).mtimeMs));
  return Math.max(...times);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const started = Date.now();
  await buildConsole();
  process.stdout.write(
    `console built into ${path.relative(process.cwd(), CONSOLE_DIST)} in ${Date.now() - started} ms\n`,
  );
}
