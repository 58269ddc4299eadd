import { readFileSync } from "node:fs";
import type { Command, Option } from "commander";
import { describe, expect, it } from "vitest";
import { buildProgram } from "../../../cli/main.js";
import { userDocs } from "./readme.js";

/**
 * The user docs (README and the reference documents it links to, ./readme.ts) document the CLI where each feature
 * is described (`tasks add` beside the add, `topics replay` beside the replay): every command and option
 * `npx punctual` defines must be named there, and every `npx punctual …` they show must be a command and options
 * that exist, so neither side can drift from the other.
 */
/** Whitespace folded: a command may be wrapped across two lines of a document. */
const flat = userDocs.replace(/\s+/g, " ");
const program = buildProgram({ out: () => {}, err: () => {}, env: {} } as never);

const visible = (command: Command): Option[] => command.options.filter((option) => !option.hidden);
const subcommands = (command: Command): Command[] => command.commands.filter((c) => c.name() !== "help");

function leaves(command: Command, path: string[] = []): { path: string[]; command: Command }[] {
  const children = subcommands(command);
  const here = path.length > 0 ? [{ path, command }] : [];
  return [...here, ...children.flatMap((child) => leaves(child, [...path, child.name()]))];
}

function find(command: Command, name: string): Command | undefined {
  return subcommands(command).find((c) => c.name() === name || c.aliases().includes(name));
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** `parent name`, `punctual name`, or `parent a|name|b` (a list of subcommands). */
function documented(path: string[]): boolean {
  const name = escapeRegExp(path.at(-1) ?? "");
  const parent = path.length > 1 ? escapeRegExp(path.slice(0, -1).join(" ")) : "punctual";
  return new RegExp(`\\b${parent} (?:[\\w-]+\\|)*${name}(?![\\w-])`).test(flat);
}

/** Every `npx punctual …` in a bash block or a code span, up to a comment, pipe or the span's end. */
function invocations(): string[][] {
  const blocks = [...userDocs.matchAll(/```bash\n([\s\S]*?)```/g)].map((m) => m[1] ?? "");
  const lines = blocks.flatMap((block) => block.replace(/\\\n\s*/g, " ").split("\n"));
  const spans = [...userDocs.replace(/```[\s\S]*?```/g, "").matchAll(/`([^`]+)`/g)].map((m) =>
    (m[1] ?? "").replace(/\s+/g, " "),
  );
  return [...lines, ...spans]
    .map((text) => /npx punctual (.*)/.exec(text)?.[1])
    .filter((rest): rest is string => rest !== undefined)
    .map((rest) => (rest.split(/ (?:#|\||&&|>) /)[0] ?? "").split(" ").filter(Boolean));
}

/** What is wrong with one invocation: an unknown command or an option its command does not take. */
function problemsOf(words: string[]): string[] {
  const takesValue = (option: Option | undefined) => option?.required || option?.optional;
  const globalOption = (flag: string) => program.options.find((o) => o.long === flag);
  let i = 0;
  while (words[i]?.startsWith("--")) i += takesValue(globalOption(words[i] as string)) ? 2 : 1;
  let command = program;
  const path: string[] = [];
  while (subcommands(command).length > 0 && words[i] !== undefined && !words[i]?.startsWith("-")) {
    const names = (words[i] as string).split("|");
    const found = names.map((name) => find(command, name));
    if (found.some((c) => c === undefined)) return [`${[...path, words[i]].join(" ")}: no such command`];
    command = found[0] as Command;
    path.push(names[0] as string);
    i++;
  }
  const flags = words.slice(i).flatMap((word) => /^\[?(--[\w-]+)/.exec(word)?.[1] ?? []);
  const known = (flag: string) =>
    flag === "--help" || [...command.options, ...program.options].some((o) => o.long === flag);
  return flags.filter((flag) => !known(flag)).map((flag) => `${path.join(" ")}: no option ${flag}`);
}

describe("the user docs' CLI reference", () => {
  it("names every command", () => {
    const missing = leaves(program)
      .map(({ path }) => path)
      .filter((path) => !documented(path));
    expect(missing.map((path) => path.join(" "))).toEqual([]);
  });

  it("names every option of every command", () => {
    const all = [program, ...leaves(program).map(({ command }) => command)];
    const missing = all.flatMap((command) =>
      visible(command)
        .map((option) => option.long as string)
        .filter((flag) => !new RegExp(`${escapeRegExp(flag)}(?![\\w-])`).test(flat))
        .map((flag) => `${command.name()} ${flag}`),
    );
    expect(missing).toEqual([]);
  });

  it("names every option of `npm start` (local/bin/start-options.ts)", () => {
    const source = readFileSync(new URL("../../../local/bin/start-options.ts", import.meta.url), "utf8");
    const flags = [...source.matchAll(/"(--[\w-]+)[ "]/g)].map((m) => m[1] as string);
    expect(flags.length).toBeGreaterThan(5);
    expect(flags.filter((flag) => !new RegExp(`${escapeRegExp(flag)}(?![\\w-])`).test(flat))).toEqual([]);
  });

  it("the check itself refuses an unknown command or option", () => {
    expect(problemsOf(["tasks", "frobnicate"])).not.toEqual([]);
    expect(problemsOf(["--env", "prod", "tasks", "add", "--nope"])).not.toEqual([]);
    expect(problemsOf(["schedules", "create|show|nope"])).not.toEqual([]);
    expect(problemsOf(["--env", "prod", "tasks", "show", "ID", "--content"])).toEqual([]);
  });

  it("shows only commands and options that exist", () => {
    const shown = invocations();
    expect(shown.length).toBeGreaterThan(10);
    expect(shown.flatMap(problemsOf)).toEqual([]);
  });
});
