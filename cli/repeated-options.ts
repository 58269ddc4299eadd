import type { Command } from "commander";

/**
 * Refuses an option that takes one value given more than once (`--topic a --topic b`), on `command` and every
 * subcommand: commander keeps the last value without a word, so a line pasted over another, or a script that adds
 * an option its caller already gave, would act on a value the operator may not have meant. Repeatable options
 * (`--task-id <id...>`) and flags are left alone. Commander has no setting for this; its documented `option:<name>`
 * event fires once per occurrence, after it stored the value, and `command.error` makes it a usage error
 * (exit 1, `--json` honoured) like commander's own.
 */
export function refuseRepeatedOptions(command: Command): void {
  const given = new Set<string>();
  for (const option of command.options) {
    if (option.variadic || !(option.required || option.optional)) continue;
    const name = option.name();
    command.on(`option:${name}`, () => {
      if (given.has(name)) {
        command.error(`error: option '${option.flags}' given more than once: give it once`, {
          code: "punctual.repeatedOption",
        });
      }
      given.add(name);
    });
  }
  for (const subcommand of command.commands) refuseRepeatedOptions(subcommand);
}
