/**
 * The runtime's zod: `zod/mini`, whose functions tree-shake (classic zod attaches every method, toJSONSchema
 * included, to every schema, ~97 KB in each function's bundle). Every schema module imports zod through here, so
 * the English messages are configured before any schema of ours can parse: mini loads no locale, and the API's
 * 400 bodies quote zod's messages ("Invalid input: expected string, received number"). Only the English locale
 * is imported, not the `locales` namespace, which would bundle every language. One message is our own (emptyMessage).
 *
 * A module-level schema that a bundle may leave out (add-task-request.ts, rfc3339.ts, schedules.ts) marks each of
 * its calls `@__PURE__`: esbuild honours zod's own `@__NO_SIDE_EFFECTS__` only within zod's files, so an unmarked
 * `z.string()` in an argument keeps the whole schema in every bundle that imports the module.
 */
import {
  clone,
  config,
  type core,
  globalRegistry,
  pipe,
  safeParse,
  transform,
  type ZodMiniPipe,
  type ZodMiniTransform,
} from "zod/mini";
import { $ZodError } from "zod/v4/core";
import en from "zod/v4/locales/en.js";

config({ ...en(), customError: emptyMessage });

/**
 * An empty string or list where one is required (`minLength(1)`) says "must not be empty", as the API's own
 * messages say what must be ("must be an absolute URL", "must hold at least one task"), not zod's "Too small:
 * expected string to have >=1 characters" — which an empty `cursor=` or `topic=` query parameter, a script's unset
 * variable, met first. Every schema gets it, so none can forget it; a schema's own message still wins, and other
 * bounds keep zod's wording. Undefined: the locale's message.
 */
function emptyMessage(issue: core.$ZodRawIssue): string | undefined {
  if (issue.code !== "too_small" || issue.minimum !== 1 || issue.inclusive === false) return undefined;
  return issue.origin === "string" || issue.origin === "array" ? "must not be empty" : undefined;
}

export * from "zod/mini";

/**
 * Classic zod's `schema.meta(data)`: a copy of the schema (whose parent it is, so it inherits the schema's own
 * metadata) registered with `data`. Not mini's `.register()`, which would mark the schema itself (a shared one
 * everywhere it is used), nor the `meta()` check, which adds a check that forbids `extend` on an object.
 */
export function withMeta<T extends core.$ZodType>(schema: T, data: core.GlobalMeta): T {
  const copy = clone(schema);
  globalRegistry.add(copy, data);
  return copy;
}

/**
 * Classic zod's `z.transform(fn)`: `fn` may report issues with `ctx.addIssue`, which mini's transform does not
 * give it (classic installs it on the payload; this is classic's, issue for issue).
 */
export function transformWithIssues<I, O>(
  fn: (value: I, ctx: core.$RefinementCtx<unknown>) => O,
): ZodMiniTransform<Awaited<O>, I> {
  const tx: ZodMiniTransform<Awaited<O>, I> = transform((value: I, payload: core.ParsePayload) => {
    const ctx = payload as core.ParsePayload & core.$RefinementCtx<unknown>;
    ctx.addIssue = (issue) => {
      if (typeof issue === "string") {
        payload.issues.push({ message: issue, code: "custom", input: payload.value, inst: tx } as never);
        return;
      }
      const full: Record<string, unknown> = { ...issue };
      if (full.fatal) full.continue = false;
      full.code ??= "custom";
      if (!("input" in full)) full.input = payload.value;
      full.inst ??= tx;
      payload.issues.push(full as unknown as core.$ZodRawIssue);
    };
    return fn(value, ctx);
  });
  return tx;
}

/** Classic zod's `z.preprocess`: the value through `fn`, then through `schema` (its JSON Schema is the schema's). */
export function preprocess<A, U extends core.SomeType, B = unknown>(
  fn: (value: B, ctx: core.$RefinementCtx<unknown>) => A,
  schema: U,
): ZodMiniPipe<ZodMiniTransform<A, B>, U> {
  return pipe(transformWithIssues(fn), schema as never) as never;
}

/** The one issue an input too full of problems to check is refused with (safeParseBounded). */
export const TOO_MANY_PROBLEMS =
  "could not be checked: too many problems (well over 100,000), refused as a whole";

/**
 * `schema.safeParse(value)` that answers, never throws, for inputs no caller sends but a hostile peer can: mini's
 * object parser hands each field's issues on in one spread call (zod core), so an array field with ~120,000 bad
 * items overflows the stack (classic's generated parser pushed them one at a time and answered). Such an input is
 * refused with one issue at its root, so a client still reports `invalid_response` and a config its ConfigError.
 */
export function safeParseBounded<T extends core.$ZodType>(
  schema: T,
  value: unknown,
): core.util.SafeParseResult<core.output<T>> {
  try {
    return safeParse(schema, value);
  } catch (error) {
    if (!(error instanceof RangeError)) throw error;
    const issue = { code: "custom", path: [], message: TOO_MANY_PROBLEMS, input: value } as const;
    return {
      success: false,
      error: new $ZodError([issue as unknown as core.$ZodIssue]) as core.$ZodError<core.output<T>>,
    };
  }
}
