import { describe, expect, it } from "vitest";
import { main } from "../../../cli/main.js";
import { tableRows } from "../../support/cli-table.js";
import { OLDER_SCHEDULE_ID, olderGroupCancel, olderScheduleChange } from "../../support/older-answers.js";

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
