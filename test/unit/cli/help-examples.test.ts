import type { Command } from "commander";
import { describe, expect, it } from "vitest";
import { buildProgram, main } from "../../../cli/main.js";
import { loadEnvironmentConfig } from "../../../shared/config/index.js";
import { resolveCallback } from "../../../shared/domain/callback-resolution.js";

/**
 * docs/API.md: "every command's help ends with an example". An example aimed at the local cloud (`--api
 * http://127.0.0.1:3000`) is what a new user pastes first, so each `tasks add` among them must make a request the
 * local environment accepts: its callback has to resolve (the local topics have no default callback).
 */
async function helpOf(argv: string[]): Promise<string> {
  const out: string[] = [];
  await main([...argv, "--help"], { out: (t) => void out.push(t), err: () => {}, env: {} });
  return out.join("");
}

/** `$ npx punctual …` lines, a trailing `\` joining the next line; words split as a POSIX shell would (quotes). */
function examplesIn(help: string): string[][] {
  const lines = help.replace(/\\\n\s*/g, "").split("\n");
  return lines
    .map((line) => line.trim())
    .filter((line) => line.startsWith("$ npx punctual "))
    .map((line) =>
      [...line.slice("$ npx punctual ".length).matchAll(/'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2] ?? ""),
    );
}

async function bodySentBy(argv: string[]): Promise<Record<string, unknown>> {
  const bodies: Record<string, unknown>[] = [];
  const fetch: typeof globalThis.fetch = async (_input, init) => {
    bodies.push(JSON.parse(String(init?.body)));
    const answer = { task_id: "demo.n1.mhx0z8ka.01JD3ABCDEFGHJKMNPQRSTVWXY", topic: "demo" };
    return Response.json(
      { ...answer, status: "scheduled", due_at: "2026-11-23T12:01:30.000Z" },
      { status: 201 },
    );
  };
  const code = await main(argv, { out: () => {}, err: () => {}, env: {}, fetch });
  expect(code, argv.join(" ")).toBe(0);
  return bodies[0] ?? {};
}

describe("help examples for the local cloud", () => {
  it("every `tasks add` example aimed at the local cloud names a callback the local topic resolves", async () => {
    const local = loadEnvironmentConfig("local", undefined);
    const examples = [...examplesIn(await helpOf([])), ...examplesIn(await helpOf(["tasks", "add"]))].filter(
      (argv) => argv.includes("add") && argv.some((word) => word.startsWith("http://127.0.0.1:3000")),
    );
    expect(examples.length).toBeGreaterThan(0);
    for (const argv of examples) {
      // Act
      const body = await bodySentBy(argv);

      // Assess
      const topic = local.resolvedTopics[String(body.topic)];
      expect(topic, argv.join(" ")).toBeDefined();
      const resolution = resolveCallback({
        callbackUrl: (body.callback as { url?: string } | undefined)?.url,
        content: JSON.parse(String(body.content)),
        services: local.services,
        defaultCallbackUrl: topic?.defaultCallbackUrl,
      });
      expect(resolution, argv.join(" ")).toMatchObject({ ok: true });
    }
  });
});

describe("help examples everywhere", () => {
  /** Every command path of the CLI (groups such as `groups` and `tasks` included), from the program's tree. */
  function commandPaths(command: Command, path: string[] = []): string[][] {
    return command.commands.flatMap((sub) => [
      [...path, sub.name()],
      ...commandPaths(sub, [...path, sub.name()]),
    ]);
  }

  it("every command's and command group's help ends with an example, as docs/API.md says", async () => {
    // Prepare
    const paths = commandPaths(buildProgram({ out: () => {}, err: () => {}, env: {} }));

    // Act
    const missing: string[] = [];
    for (const path of paths) if (examplesIn(await helpOf(path)).length === 0) missing.push(path.join(" "));

    // Assess
    expect(paths.length).toBeGreaterThan(20);
    expect(missing).toEqual([]);
  });

  it("no example names a fixed due time, which every topic's maxDelay (a year at most by default) refuses in time", async () => {
    // Prepare: `tasks reschedule`'s example moved a task to 2030-01-15, which the API refused (400, past maxDelay)
    const paths = commandPaths(buildProgram({ out: () => {}, err: () => {}, env: {} }));

    // Act
    const fixed: string[] = [];
    for (const path of paths) {
      for (const argv of examplesIn(await helpOf(path))) {
        if (argv.some((word) => word === "--due-at" || word === "--timing-moment"))
          fixed.push(argv.join(" "));
      }
    }

    // Assess
    expect(fixed).toEqual([]);
  });
});
