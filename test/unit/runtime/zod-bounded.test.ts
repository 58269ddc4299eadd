import { describe, expect, it } from "vitest";
import { dev } from "#shared/config/environments/dev.js";
import { parseConfig } from "#shared/config/load.js";
import { applyRuntimeSettings } from "#shared/config/runtime-settings.js";
import * as z from "#shared/zod.js";

/** zod/mini spreads a field's issues into one call: ~120,000 overflow the stack. safeParseBounded refuses instead. */
const TOO_MANY = 130_000;

describe("safeParseBounded", () => {
  it("answers an input with more problems than the stack can spread with one root issue, where safeParse throws", () => {
    // Prepare
    const schema = z.object({ items: z.array(z.string()) });
    const value = { items: Array.from({ length: TOO_MANY }, () => 1) };

    // Act
    const bounded = z.safeParseBounded(schema, value);

    // Assess
    expect(() => schema.safeParse(value)).toThrow(RangeError);
    expect(bounded.success).toBe(false);
    expect(bounded.error?.issues).toEqual([
      expect.objectContaining({ code: "custom", path: [], message: z.TOO_MANY_PROBLEMS }),
    ]);
  });

  it("is safeParse otherwise: the same issues for a plain refusal, the same data for a pass", () => {
    const schema = z.object({ n: z.number() });
    expect(z.safeParseBounded(schema, { n: "x" }).error?.issues).toEqual(
      schema.safeParse({ n: "x" }).error?.issues,
    );
    expect(z.safeParseBounded(schema, { n: 1 })).toEqual({ success: true, data: { n: 1 } });
  });

  it("a config with 130,000 bad alarm emails is a ConfigError, not a stack overflow", () => {
    const emails = Array.from({ length: TOO_MANY }, () => 1);
    expect(() => parseConfig({ ...dev, alarmSubscribers: { emails } } as never)).toThrow(
      expect.objectContaining({ name: "ConfigError" }),
    );
  });

  it("a runtime settings document with 130,000 bad allow-list rows is refused with a problem that says so", () => {
    const rows = Array.from({ length: TOO_MANY }, () => 1);
    const result = applyRuntimeSettings(parseConfig(dev), {
      topics: { demo: { allowedCallbackHosts: rows } },
    });
    expect(result).toMatchObject({ ok: false, problems: [expect.stringContaining("too many problems")] });
  });
});
