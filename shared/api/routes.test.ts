import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { ENV } from "#shared/runtime/env.js";
import { API_ROUTE_KEYS, API_ROUTES, DEFAULT_ROUTE, routeVariables } from "./routes.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const ROWS = [...API_ROUTES, DEFAULT_ROUTE];

describe("the route table", () => {
  it("names each function and route key once, and each entry is a handler file that exists", () => {
    expect(new Set(ROWS.map((r) => r.name)).size).toBe(ROWS.length);
    expect(new Set(ROWS.map((r) => r.routeKey)).size).toBe(ROWS.length);
    for (const row of ROWS) expect(existsSync(path.join(ROOT, row.entry)), row.entry).toBe(true);
  });

  it("writes route keys as API Gateway takes them: METHOD /path, `$default` kept apart", () => {
    for (const key of API_ROUTE_KEYS) expect(key).toMatch(/^(GET|POST|PUT|PATCH|DELETE) (\/[\w{}+.-]+)+$/);
    expect(API_ROUTE_KEYS).not.toContain("$default");
  });

  it("gives each function the variables its store access and grants need, and no others", () => {
    const byName = Object.fromEntries(ROWS.map((r) => [r.name, routeVariables(r).sort()]));
    expect(byName).toEqual({
      // The topology's `topicSettings` section (AppConfig ids) for the rows that read topic settings.
      "add-task": [
        ENV.topology,
        ENV.schedulerRoleArn,
        ENV.scheduleDlqArn,
        ENV.scheduleGroupName,
        ENV.tableName,
        ENV.timerQueueArn,
        ENV.timerQueueUrl,
      ].sort(),
      "get-task": [ENV.topology, ENV.tableName].sort(),
      "cancel-task": [ENV.topology, ENV.scheduleGroupName, ENV.tableName].sort(),
      openapi: [],
      "pause-topic": [ENV.topology],
      "resume-topic": [ENV.topology],
      "list-topics": [ENV.topology, ENV.tableName].sort(),
      "get-topic": [ENV.topology, ENV.tableName].sort(),
      "unmatched-route": [],
      ...Object.fromEntries(
        ["add-tasks-batch", "reschedule-task", "run-task", "create-schedule", "resume-schedule"].map(
          (name) => [
            name,
            [
              ENV.topology,
              ENV.schedulerRoleArn,
              ENV.scheduleDlqArn,
              ENV.scheduleGroupName,
              ENV.tableName,
              ENV.timerQueueArn,
              ENV.timerQueueUrl,
            ].sort(),
          ],
        ),
      ),
      "cancel-group": [ENV.topology, ENV.scheduleGroupName, ENV.tableName].sort(),
      "list-tasks": [ENV.topology, ENV.tableName].sort(),
      "replay-task": [ENV.topology, ENV.tableName],
      "replay-topic": [ENV.topology, ENV.tableName],
      "get-schedule": [ENV.tableName],
      "list-schedules": [ENV.tableName],
      // Stopping a schedule checks the occurrences a run has leased with today's topic settings.
      "pause-schedule": [ENV.topology, ENV.scheduleGroupName, ENV.tableName].sort(),
      "delete-schedule": [ENV.topology, ENV.scheduleGroupName, ENV.tableName].sort(),
      "list-destinations": [ENV.tableName],
      "reset-destination": [ENV.tableName],
    });
  });
});
