import type { Command } from "commander";
import { describe, expect, it } from "vitest";
import { buildProgram, main } from "../../../cli/main.js";

/**
 * `npx punctual` and a command group without its command (`npx punctual tasks`) asked for nothing: a usage mistake,
 * as git (usage, exit 1) and the AWS CLI (usage on stderr, exit 2) treat one, and commander's own default. Each
 * prints the help of what was given on stderr (a script's stdout gets nothing) and exits 1; `--help` asks for the
 * help, printed on stdout, exit 0. The two are the same text.
 */
async function run(argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const io = { out: (t: string) => void out.push(t), err: (t: string) => void err.push(t), env: {} };
  const code = await main(argv, io);
  return { code, out: out.join(""), err: err.join("") };
}

/** The program's command groups (a command with commands of its own), by name. */
const groups = (buildProgram({ out: () => {}, err: () => {}, env: {} }).commands as Command[])
  .filter((command) => command.commands.length > 0)
  .map((command) => [command.name()]);

describe("nothing asked", () => {
  it("the program has the groups this test walks", () => {
    expect(groups.flat().sort()).toEqual(["destinations", "groups", "schedules", "tasks", "topics"]);
  });

  it.each([[[] as string[]], ...groups])(
    "`punctual %s`: its help on stderr, exactly as --help prints it on stdout; exit 1, stdout empty",
    async (...argv) => {
      const args = argv.flat();
      // Act
      const bare = await run(args);
      const help = await run([...args, "--help"]);

      // Assess
      expect(bare.code).toBe(1);
      expect(bare.out).toBe("");
      expect(bare.err).toMatch(new RegExp(`^Usage: punctual ${args.join(" ")}`.trimEnd()));
      expect(help.code).toBe(0);
      expect(help.err).toBe("");
      expect(bare.err).toBe(help.out);
    },
  );

  it.each([[[] as string[]], ...groups])(
    "`punctual --json %s`: one JSON usage error on stderr, exit 1",
    async (...argv) => {
      // Act
      const result = await run(["--json", ...argv.flat()]);

      // Assess
      expect(result.code).toBe(1);
      expect(result.out).toBe("");
      expect(JSON.parse(result.err)).toEqual({
        error: { code: "usage", message: "a command is missing: see --help" },
      });
    },
  );
});
