import { describe, expect, it } from "vitest";
import { main } from "../../../cli/main.js";
import { answeringServer } from "../../support/answering-server.js";
import { tableRows } from "../../support/cli-table.js";
import { OLDER_SCHEDULE_ID, olderGroupCancel, olderScheduleChange } from "../../support/older-answers.js";
import { destinationViewAnswer, taskViewAnswer } from "../client/fakes.js";

/**
 * A newer CLI against a deployment from before a field was added to an answer (clients and deployments are
 * upgraded independently): the command works and shows the field as what the older answer means.
 */
async function run(body: unknown, argv: string[]) {
  const fetch: typeof globalThis.fetch = async () =>
    new Response(JSON.stringify(body), { status: 200, headers: { "content-type": "application/json" } });
  const out: string[] = [];
  const err: string[] = [];
  const io = { out: (t: string) => void out.push(t), err: (t: string) => void err.push(t), env: {}, fetch };
  const code = await main(["--api", "http://127.0.0.1:3000", ...argv], io);
  return { code, out: out.join(""), err: err.join("") };
}

describe("the CLI against a deployment from before cancels_deferred and cancel_requested", () => {
  it.each([
    ["pause", "paused"],
    ["delete", "deleted"],
  ] as const)("schedules %s: exits 0 and shows cancels_deferred false", async (command, status) => {
    // Act
    const human = await run(olderScheduleChange(status), ["schedules", command, OLDER_SCHEDULE_ID]);
    const json = await run(olderScheduleChange(status), ["--json", "schedules", command, OLDER_SCHEDULE_ID]);

    // Assess
    expect(human.code, human.err).toBe(0);
    expect(tableRows(human.out)).toContainEqual(["status", status]);
    expect(tableRows(human.out)).toContainEqual(["cancelled_occurrences", "2"]);
    expect(tableRows(human.out)).toContainEqual(["cancels_deferred", "false"]);
    expect(json.code, json.err).toBe(0);
    expect(JSON.parse(json.out)).toMatchObject({ status, cancelled_occurrences: 2, cancels_deferred: false });
  });

  it("groups cancel: exits 0 and reports no task stopping after its current attempt", async () => {
    // Prepare
    const argv = ["groups", "cancel", "--topic", "orders", "--group", "A-1"];

    // Act
    const human = await run(olderGroupCancel, argv);
    const json = await run(olderGroupCancel, ["--json", ...argv]);

    // Assess
    expect(human.code, human.err).toBe(0);
    expect(tableRows(human.out)).toContainEqual(["cancelled", "3"]);
    expect(tableRows(human.out)).toContainEqual(["cancel_requested", "[]"]);
    expect(json.code, json.err).toBe(0);
    expect(JSON.parse(json.out)).toEqual({ cancelled: 3, not_cancelled: [], cancel_requested: [] });
  });
});

/** `main` against a real HTTP server on loopback answering `answer(method, path)` (200), through the real `fetch`. */
async function runAgainst(answer: (method: string, path: string) => unknown, argv: string[]) {
  const server = await answeringServer(answer);
  try {
    const out: string[] = [];
    const err: string[] = [];
    const io = { out: (t: string) => void out.push(t), err: (t: string) => void err.push(t), env: {} };
    const code = await main(["--api", server.url, ...argv], io);
    return { code, out: out.join(""), err: err.join("") };
  } finally {
    await server.close();
  }
}

describe("the CLI against a newer deployment: a value it does not know in a closed set is shown as sent", () => {
  const id = "orders.k3Jx0aQ9fT2bLw1c.mhx0z8ka.01JD3ABCDEFGHJKMNPQRSTVWXY";
  const task = (status: string) =>
    taskViewAnswer(id, {
      topic: "orders",
      status,
      subscribers: [
        { id: "audit", task_id: `${id}.audit`, callback_url: "https://a.example/", status, attempts: 0 },
      ],
    });
  const tasks = (status: string) => (_method: string, path: string) =>
    path === "/v1/tasks" ? { tasks: [task(status)], next_cursor: null } : task(status);

  it.each([
    ["get", ["tasks", "get", id]],
    ["cancel", ["tasks", "cancel", id]],
  ])("tasks %s: a task `archived` exits 0, its status and its copies' shown as sent", async (_name, argv) => {
    // Act
    const human = await runAgainst(tasks("archived"), argv);
    const json = await runAgainst(tasks("archived"), ["--json", ...argv]);

    // Assess
    expect(human.code, human.err).toBe(0);
    expect(tableRows(human.out)).toContainEqual(["status", "archived"]);
    expect(tableRows(human.out)).toContainEqual(["audit", "archived", "0", "", `${id}.audit`]);
    expect(json.code, json.err).toBe(0);
    expect(JSON.parse(json.out)).toMatchObject({ task_id: id, status: "archived" });
  });

  it("tasks list: a task `archived` exits 0, its row showing the status as sent", async () => {
    // Act
    const human = await runAgainst(tasks("archived"), [
      "tasks",
      "list",
      "--topic",
      "orders",
      "--group",
      "A-1",
    ]);
    const json = await runAgainst(tasks("archived"), [
      "--json",
      "tasks",
      "list",
      "--topic",
      "orders",
      "--failed",
    ]);

    // Assess
    expect(human.code, human.err).toBe(0);
    expect(tableRows(human.out)).toContainEqual([id, "archived", "2026-11-23T12:01:30.000Z", "0", ""]);
    expect(json.code, json.err).toBe(0);
    expect(JSON.parse(json.out).tasks[0]).toMatchObject({ status: "archived" });
  });

  it("an unknown status is server text: shown escaped as every other (no terminal control, no bidi reordering)", async () => {
    // Act
    const human = await runAgainst(tasks("arch\u001b[2Jived\u202e"), ["tasks", "get", id]);
    const json = await runAgainst(tasks("arch\u001b[2Jived\u202e"), ["--json", "tasks", "get", id]);

    // Assess
    expect(human.code, human.err).toBe(0);
    expect(tableRows(human.out)).toContainEqual(["status", "arch\\u001b[2Jived\\u202e"]);
    for (const raw of ["\u001b", "\u202e"]) {
      expect(human.out).not.toContain(raw);
      expect(json.out).not.toContain(raw);
    }
    expect(JSON.parse(json.out).status).toBe("arch\u001b[2Jived\u202e");
  });

  it("groups cancel: a task not cancelled in a status added later is listed with it as sent", async () => {
    // Prepare
    const answer = {
      cancelled: 1,
      not_cancelled: [{ task_id: id, status: "archived" }],
      cancel_requested: [],
      more: false,
      next_cursor: null,
    };
    const argv = ["--json", "groups", "cancel", "--topic", "orders", "--group", "A-1"];

    // Act
    const json = await runAgainst(() => answer, argv);

    // Assess
    expect(json.code, json.err).toBe(0);
    expect(JSON.parse(json.out)).toMatchObject({ not_cancelled: [{ task_id: id, status: "archived" }] });
  });

  it("schedules show and list: a status and catch_up policy added later are shown as sent", async () => {
    // Prepare
    const schedule = {
      ...olderScheduleChange("paused"),
      status: "suspended",
      catch_up: "earliest",
      cancels_deferred: false,
    };
    const answer = (_method: string, path: string) =>
      path === "/v1/schedules" ? { schedules: [schedule], next_cursor: null } : schedule;

    // Act
    const got = await runAgainst(answer, ["schedules", "show", OLDER_SCHEDULE_ID]);
    const list = await runAgainst(answer, ["schedules", "list", "--topic", "orders"]);

    // Assess
    expect(got.code, got.err).toBe(0);
    expect(tableRows(got.out)).toContainEqual(["status", "suspended"]);
    expect(tableRows(got.out)).toContainEqual(["catch_up", "earliest"]);
    expect(list.code, list.err).toBe(0);
    expect(tableRows(list.out)).toContainEqual([
      OLDER_SCHEDULE_ID,
      "suspended",
      "0 * * * *",
      "UTC",
      "-",
      "earliest",
      "0",
    ]);
  });

  it("destinations list: a circuit state added later is shown as sent", async () => {
    // Prepare
    const destination = destinationViewAnswer("orders", { state: "throttled" });

    // Act
    const list = await runAgainst(
      () => ({ destinations: [destination], next_cursor: null }),
      ["destinations", "list"],
    );

    // Assess
    expect(list.code, list.err).toBe(0);
    expect(tableRows(list.out)).toContainEqual([
      "orders",
      "hooks.example.com",
      "throttled",
      "0",
      "-",
      "-",
      "0",
    ]);
  });

  it("a status that is no value (a number) is still an invalid answer: exit as for any malformed answer", async () => {
    // Act
    const human = await runAgainst(() => task(3 as unknown as string), ["tasks", "get", id]);

    // Assess
    expect(human.code).not.toBe(0);
    expect(human.err).toContain("invalid_response");
  });
});
