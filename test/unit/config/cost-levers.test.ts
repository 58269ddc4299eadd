import { describe, expect, it } from "vitest";
import {
  ConfigError,
  DEFAULT_FUNCTIONS,
  DEFAULT_TASK_TABLE,
  type EnvironmentConfigInput,
  parseConfig,
} from "#shared/config/index.js";

/** The problems parseConfig reports for an environment with these sections ([] when it accepts them). */
function problemsOf(sections: object): string[] {
  try {
    parseConfig({ name: "t", topics: { a: {} }, ...sections } as EnvironmentConfigInput);
    return [];
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return [...error.problems];
  }
}

const range = (min: number, max: number) => ({ min, max });
const provisioned = (overrides: Record<string, unknown> = {}) => ({
  taskTable: {
    capacity: {
      mode: "provisioned",
      targetUtilizationPercent: 70,
      table: { read: range(5, 100), write: range(10, 6_000) },
      indexes: { read: range(1, 10), write: range(1, 50) },
      ...overrides,
    },
  },
});

describe("taskTable.capacity", () => {
  it("defaults to on-demand, as every environment ran before", () => {
    // Act
    const config = parseConfig({ name: "t", topics: { a: {} } });

    // Assess
    expect(config.taskTable).toEqual(DEFAULT_TASK_TABLE);
    expect(config.taskTable.capacity).toEqual({ mode: "on-demand" });
  });

  it("accepts provisioned capacity at the documented edges (1 unit, 40,000, target 20 and 90 %)", () => {
    expect(problemsOf(provisioned({ targetUtilizationPercent: 20 }))).toEqual([]);
    expect(
      problemsOf(
        provisioned({
          targetUtilizationPercent: 90,
          table: { read: range(1, 40_000), write: range(1, 40_000) },
          indexes: { read: range(1, 13_333), write: range(1, 13_333) },
        }),
      ),
    ).toEqual([]);
  });

  it.each([
    [
      "a target utilization below 20 %",
      provisioned({ targetUtilizationPercent: 19 }),
      'field "taskTable.capacity.targetUtilizationPercent": DynamoDB auto scaling accepts a target of 20–90 %',
    ],
    [
      "a target utilization above 90 %",
      provisioned({ targetUtilizationPercent: 91 }),
      'field "taskTable.capacity.targetUtilizationPercent": DynamoDB auto scaling accepts a target of 20–90 %',
    ],
    [
      "a minimum of 0 units",
      provisioned({ indexes: { read: range(0, 10), write: range(1, 10) } }),
      'field "taskTable.capacity.indexes.read.min": DynamoDB provisions at least 1 capacity unit',
    ],
    [
      "a minimum above the maximum",
      provisioned({ table: { read: range(50, 10), write: range(1, 10) } }),
      'field "taskTable.capacity.table.read.max": max must be at least min',
    ],
    [
      "a maximum above the per-table quota",
      provisioned({ table: { read: range(1, 10), write: range(1, 40_001) } }),
      'field "taskTable.capacity.table.write.max": at most 40000: DynamoDB\'s default per-table quota (raise it with AWS first, then here)',
    ],
    [
      "maxima whose sum passes the account quota",
      provisioned({ indexes: { read: range(1, 10), write: range(1, 25_000) } }),
      'field "taskTable.capacity.indexes.write.max": table.write.max + 3 × indexes.write.max must be at most 80000',
    ],
    [
      "an unknown mode",
      { taskTable: { capacity: { mode: "serverless" } } },
      'field "taskTable.capacity.mode": capacity.mode must be "on-demand" or "provisioned"',
    ],
    [
      "provisioned without the table's bounds",
      {
        taskTable: {
          capacity: {
            mode: "provisioned",
            targetUtilizationPercent: 70,
            indexes: { read: range(1, 10), write: range(1, 10) },
          },
        },
      },
      'field "taskTable.capacity.table"',
    ],
    [
      "capacity settings on an on-demand table",
      { taskTable: { capacity: { mode: "on-demand", targetUtilizationPercent: 70 } } },
      'field "taskTable.capacity"',
    ],
  ])("refuses %s with a message naming the field", (_, sections, message) => {
    // Act
    const problems = problemsOf(sections);

    // Assess
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain(message);
  });
});

describe("functions (tracing and platform logs)", () => {
  it("defaults to today's behaviour: active tracing, plain-text logs", () => {
    // Act
    const config = parseConfig({ name: "t", topics: { a: {} } });

    // Assess
    expect(config.functions).toEqual(DEFAULT_FUNCTIONS);
    expect(config.functions).toEqual({ tracing: "active", logging: { format: "text" } });
  });

  it("accepts pass-through tracing and JSON logs at any system level with an application level of DEBUG or INFO", () => {
    for (const systemLogLevel of ["DEBUG", "INFO", "WARN"] as const) {
      for (const logLevel of ["DEBUG", "INFO"] as const) {
        expect(
          problemsOf({
            logLevel,
            functions: { tracing: "pass-through", logging: { format: "json", systemLogLevel } },
          }),
        ).toEqual([]);
      }
    }
  });

  it.each([
    [
      "a system log level with plain-text logs",
      { functions: { logging: { format: "text", systemLogLevel: "WARN" } } },
      'field "functions.logging.systemLogLevel": systemLogLevel needs format "json"',
    ],
    [
      "JSON logs with logLevel WARN (Lambda would drop the EMF metric lines)",
      { logLevel: "WARN", functions: { logging: { format: "json" } } },
      'field "functions.logging.format": "json" needs logLevel DEBUG or INFO (found WARN)',
    ],
    [
      "a tracing mode Lambda does not have",
      { functions: { tracing: "sampled" } },
      'field "functions.tracing"',
    ],
    [
      "a system log level Lambda does not have",
      { functions: { logging: { format: "json", systemLogLevel: "ERROR" } } },
      'field "functions.logging.systemLogLevel"',
    ],
  ])("refuses %s with a message naming the field", (_, sections, message) => {
    // Act
    const problems = problemsOf(sections);

    // Assess
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain(message);
  });
});
