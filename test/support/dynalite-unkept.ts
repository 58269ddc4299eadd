import { createRequire } from "node:module";
import path from "node:path";
import type dynalite from "dynalite";

const require = createRequire(import.meta.url);

/** dynalite's validations module (dynalite/validations/index.js): the seam where a request's expressions are parsed. */
export interface DynaliteValidations {
  /** Parses a request's expressions into `data._condition`, `_updates`… ; answers dynalite's refusal, if any. */
  validateExpressions(data: Record<string, unknown>): string | undefined;
  /** Checks a request against its action's type descriptors; answers the request converted, or throws a 400. */
  checkTypes(data: unknown, types: Readonly<Record<string, unknown>>): Record<string, unknown>;
}

/**
 * A copy of dynalite of its own: every one of its modules loaded afresh, so nothing done to the dynalite every
 * other import shares reaches it. Why: the local cloud keeps expression parses by wrapping dynalite's parser
 * modules in place (local/aws/dynalite-expressions.ts), and those modules are the ones a plain `dynalite()` in the
 * same process uses too: once a local cloud has started, no dynalite there parses afresh. The shared modules are
 * put back in Node's module cache as they were, so only the copy's holders reach the copy.
 */
export function loadUnkeptDynalite(): {
  readonly dynalite: typeof dynalite;
  readonly validations: DynaliteValidations;
  readonly parsers: readonly { readonly parse: (...args: never[]) => unknown }[];
} {
  const root = `${path.dirname(require.resolve("dynalite/package.json"))}${path.sep}`;
  const shared = Object.keys(require.cache).filter((file) => file.startsWith(root));
  const saved = new Map(shared.map((file) => [file, require.cache[file]]));
  for (const file of shared) delete require.cache[file];
  try {
    return {
      dynalite: require("dynalite") as typeof dynalite,
      validations: require("dynalite/validations/index.js") as DynaliteValidations,
      parsers: ["conditionParser", "updateParser", "projectionParser"].map(
        (name) => require(`dynalite/db/${name}.js`) as { parse: (...args: never[]) => unknown },
      ),
    };
  } finally {
    for (const file of Object.keys(require.cache)) if (file.startsWith(root)) delete require.cache[file];
    for (const [file, module] of saved) require.cache[file] = module;
  }
}
