import { type Dirent, existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";

/**
 * What a reader of README.md, docs/*.md and localstack/README.md is sent to must be there: every repository path
 * they name (`shared/services/relay.ts`, `npx tsx bench/functions.ts`), every relative link and its `#anchor`, and
 * every `npm run` script. The other readme-*.test.ts specs check the reference tables; this one the pointers, so a
 * file moved or renamed cannot leave the documents pointing at nothing.
 */
const root = path.resolve(import.meta.dirname, "../../..");

const DOCUMENTS = [
  "README.md",
  "localstack/README.md",
  ...readdirSync(path.join(root, "docs"))
    .filter((name) => name.endsWith(".md"))
    .map((name) => `docs/${name}`),
];

/** The top-level folders (docs/ARCHITECTURE.md's rooms and the documents' own): a path names one of them first. */
const ROOMS =
  "functions|shared|cdk|local|client|cli|console|plan|bench|chaos|scripts|test|docs|localstack|\\.ci";

/** Files a run writes, which the documents name as where to look afterwards: not in a clean clone. */
const WRITTEN_BY_A_RUN = new Set([
  "bench/results/partial.json",
  ".punctual/local-settings.json",
  // Beside it, written by npm start once the environment's settings change (local/aws/appconfig-emulator.ts).
  ".punctual/local-settings.json.previous.json",
  ".punctual/local-settings.json.config-base.json",
  // In a --data directory, written by npm start (local/aws/emulators.ts, local/cloud/local-cloud.ts).
  "schedules.json",
  "event-source-mappings.json",
]);

/** What is not the repository's own: installed, built or written by runs (.gitignore's folders). */
const NOT_SOURCE = new Set([
  ".git",
  "node_modules",
  "cdk.out",
  "coverage",
  "dist",
  "test-results",
  ".punctual",
]);

/** Every file of the repository, as a path from its root. */
function repositoryFiles(folder = ""): string[] {
  const entries: Dirent[] = readdirSync(path.join(root, folder), { withFileTypes: true });
  return entries
    .filter((entry) => !NOT_SOURCE.has(entry.name) && !entry.name.startsWith(".scratch"))
    .flatMap((entry) => {
      const relative = folder ? `${folder}/${entry.name}` : entry.name;
      return entry.isDirectory() ? repositoryFiles(relative) : [relative];
    });
}

/** Each file's path and every tail of it (`local/bin/start.ts`, `bin/start.ts`, `start.ts`). */
function pathTails(files: readonly string[]): Set<string> {
  return new Set(files.flatMap((file) => file.split("/").map((_, i, parts) => parts.slice(i).join("/"))));
}

const text = (document: string) => readFileSync(path.join(root, document), "utf8");

/**
 * The repository paths a document names: a room, then path characters, ending on a word character (a sentence's
 * full stop is not part of it). Not one inside a URL or an import specifier (`…amazonaws.com/cdk/…`, `#shared/…`:
 * preceded by a word character, `/`, `.`, `:`, `#` or `-`), nor a pattern (`*`, `<`, `{` or `…` where it goes on).
 */
function namedPaths(markdown: string): string[] {
  const pattern = new RegExp(`(?<![\\w./:#@-])(?:${ROOMS})/[\\w./-]*\\w(?![\\w*<{…]|[./-][\\w*<{…])`, "g");
  return [...new Set([...markdown.matchAll(pattern)].map((m) => m[0]))];
}

/** A path is there as written, or as the `.ts` file a `.js` import specifier names. */
function present(repoPath: string): boolean {
  const full = path.join(root, repoPath);
  return existsSync(full) || (repoPath.endsWith(".js") && existsSync(full.replace(/\.js$/, ".ts")));
}

/** GitHub's heading anchor: lower case, punctuation but `-` and `_` dropped, spaces as `-`. */
function anchorOf(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}_\- ]/gu, "")
    .replace(/ /g, "-");
}

/**
 * The anchors GitHub makes of a document's headings: not of a `# comment` in a fenced code block (a shell
 * example's `# 201 {…}` is no heading), and a heading repeated gets `-1`, `-2` … after its first.
 */
function anchorsOf(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  let fence: string | undefined;
  const anchors = new Set<string>();
  for (const line of markdown.split("\n")) {
    const marker = /^\s*(`{3,}|~{3,})/.exec(line)?.[1];
    if (fence !== undefined) {
      if (marker !== undefined && marker[0] === fence[0] && marker.length >= fence.length) fence = undefined;
      continue;
    }
    if (marker !== undefined) fence = marker;
    const heading = fence === undefined ? /^#{1,6} (.*)$/.exec(line)?.[1] : undefined;
    if (heading === undefined) continue;
    const anchor = anchorOf(heading);
    const repeats = seen.get(anchor) ?? 0;
    seen.set(anchor, repeats + 1);
    anchors.add(repeats === 0 ? anchor : `${anchor}-${repeats}`);
  }
  return anchors;
}

/** Relative links (`[text](docs/X.md#anchor)`), each with what is wrong with it, if anything. */
function brokenLinks(document: string): string[] {
  const markdown = text(document);
  const links = [...markdown.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1] as string);
  return links
    .filter((link) => !/^[a-z]+:/.test(link))
    .flatMap((link) => {
      const [target = "", anchor] = link.split("#");
      const targetPath = target === "" ? document : path.join(path.dirname(document), target);
      if (!existsSync(path.join(root, targetPath))) return [`${document}: ${link} (no such file)`];
      if (anchor && targetPath.endsWith(".md") && !anchorsOf(text(targetPath)).has(anchor))
        return [`${document}: ${link} (no such heading)`];
      return [];
    });
}

/** Every test file of the repository, as a path from its root. */
const testFiles = () => repositoryFiles("test").filter((file) => file.endsWith(".test.ts"));

/**
 * The test titles a document quotes after the test file they are in: `test/unit/x.test.ts` ("a title…") or
 * x.test.ts, "one title" and "another". A quote may be cut short with `…` where it leaves words out.
 */
function quotedTitles(markdown: string): { file: string; quote: string }[] {
  const flat = markdown.replace(/\s+/g, " ");
  const reference = /([\w./-]+\.test\.ts)`?\)?((?:[\s,:;([]*(?:and |or )?["“][^"”]+["”])+)/g;
  return [...flat.matchAll(reference)].flatMap((m) =>
    [...(m[2] as string).matchAll(/["“]([^"”]+)["”]/g)].map((q) => ({
      file: m[1] as string,
      quote: q[1] as string,
    })),
  );
}

/**
 * The titles a test file gives its `describe`, `it` and `test` calls (an `.each` table's and a `.runIf(…)`'s too),
 * with a title split over concatenated literals joined.
 */
function titlesOf(source: string): string[] {
  const joined = source.replace(/(["'`])\s*\+\s*\1/g, "").replace(/\s+/g, " ");
  const literal = String.raw`("(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|\`(?:\\.|[^\`\\])*\`)`;
  const call = new RegExp(
    String.raw`(?:\b(?:describe|it|test)(?:\.\w+)*(?:\([^()]*\))?|\](?: as const)?\))\(\s*` + literal,
    "g",
  );
  return [...joined.matchAll(call)].map((m) => (m[1] as string).slice(1, -1));
}

/** A quote names a title when every piece of it (between its `…`) is in that one title. */
function namesATitle(quote: string, titles: readonly string[]): boolean {
  const pieces = quote
    .split("…")
    .map((piece) => piece.trim())
    .filter(Boolean);
  return titles.some((title) => pieces.every((piece) => title.includes(piece)));
}

/** The quotes of a document that no title of the test file they follow (whole or by its tail) matches. */
function unmatchedTitles(document: string, markdown: string, files: readonly string[]): string[] {
  return quotedTitles(markdown)
    .filter(({ file, quote }) => {
      const candidates = files.filter((candidate) => candidate === file || candidate.endsWith(`/${file}`));
      return !candidates.some((candidate) => namesATitle(quote, titlesOf(text(candidate))));
    })
    .map(({ file, quote }) => `${document}: ${file} "${quote}"`);
}

describe("the documents' pointers into the repository", () => {
  it("every repository path README and docs name exists", () => {
    const named = DOCUMENTS.flatMap((document) =>
      namedPaths(text(document)).map((repoPath) => ({ document, repoPath })),
    );
    expect(named.length).toBeGreaterThan(300);
    const missing = named
      .filter(({ repoPath }) => !WRITTEN_BY_A_RUN.has(repoPath) && !present(repoPath))
      .map(({ document, repoPath }) => `${document}: ${repoPath}`);
    expect(missing).toEqual([]);
  });

  it("the path finder takes a path and leaves URLs, specifiers and patterns alone", () => {
    const found = namedPaths(
      "See shared/nope/gone.ts. Not https://docs.aws.amazon.com/cdk/api/v2/x.html, `#shared/zod.js`, " +
        "bench/results/latest.* or shared/config/environments/<name>.ts; `npx tsx plan/calibrate.ts`",
    );
    expect(found).toEqual(["shared/nope/gone.ts", "plan/calibrate.ts"]);
    expect(present("shared/nope/gone.ts")).toBe(false);
    expect(present("shared/zod.js")).toBe(true);
  });

  it("every file a code span names is one of the repository's, whole or by its tail (a row's `bin/start.ts`)", () => {
    const tails = pathTails(repositoryFiles());
    const spans = DOCUMENTS.flatMap((document) =>
      [...text(document).matchAll(/`([\w./-]+\.(?:ts|tsx|mjs|js|json|md|yml|yaml))`/g)].map((m) => ({
        document,
        file: m[1] as string,
      })),
    );
    expect(spans.length).toBeGreaterThan(300);
    const missing = spans.filter(
      ({ file }) =>
        !WRITTEN_BY_A_RUN.has(file) && !tails.has(file) && !tails.has(file.replace(/\.js$/, ".ts")),
    );
    expect(missing.map(({ document, file }) => `${document}: ${file}`)).toEqual([]);
  });

  it("an anchor is a heading's, not a code block's `# comment`, and a repeated heading's has its number", () => {
    const anchors = anchorsOf(
      '## Run it\n\n```bash\n# 201 {"task_id":1}\ncurl x\n```\n\n## Run it\n\n~~~\n## Not a heading\n~~~\n',
    );
    expect([...anchors]).toEqual(["run-it", "run-it-1"]);
  });

  it("every relative link and its #anchor lead somewhere", () => {
    expect(DOCUMENTS.flatMap(brokenLinks)).toEqual([]);
  });

  it("every `npm run` script they show is in package.json", () => {
    const scripts = Object.keys(JSON.parse(text("package.json")).scripts as Record<string, string>);
    const shown = DOCUMENTS.flatMap((document) =>
      [...text(document).matchAll(/\bnpm run ([\w:-]+)/g)].map((m) => m[1] as string),
    );
    expect(shown.length).toBeGreaterThan(10);
    expect([...new Set(shown)].filter((script) => !scripts.includes(script))).toEqual([]);
  });
  it("every test title quoted after its test file is one of that file's", () => {
    const files = testFiles();
    const quoted = DOCUMENTS.flatMap((document) => quotedTitles(text(document)));
    expect(quoted.length).toBeGreaterThan(60);
    expect(DOCUMENTS.flatMap((document) => unmatchedTitles(document, text(document), files))).toEqual([]);
  });

  it("the title check takes cut quotes, `.each` and concatenated titles, and finds a title that is not there", () => {
    const files = testFiles();
    const markdown =
      'See `test/unit/api/replay-topic.test.ts` ("a retry after a failed send…before its followers"), ' +
      'dynamo-task-store.test.ts, "an attempt\'s outcome written after the next attempt began" and ' +
      '"no such title at all"; test/unit/tooling/doc-references.test.ts, "every relative link…lead somewhere".';
    expect(quotedTitles(markdown)).toHaveLength(4);
    expect(unmatchedTitles("x.md", markdown, files)).toEqual([
      'x.md: dynamo-task-store.test.ts "no such title at all"',
    ]);
    expect(
      titlesOf('it(\n  "one " +\n    "title", () => {});\ndescribe.runIf(local)("two", () => {});'),
    ).toEqual(["one title", "two"]);
  });
});
