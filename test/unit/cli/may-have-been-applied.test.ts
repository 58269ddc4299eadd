import { describe, expect, it } from "vitest";
import { main } from "../../../cli/main.js";
import { scheduleCreate } from "./offline.js";

/**
 * `schedules create` and `tasks replay`, which the client never sends twice (a repeat makes a second schedule, or
 * replays once more), failing after a request that may have been applied: exit 3 says "may be retried", so the
 * output must say what may have happened and where to look first, as `tasks add` names its key.
 */
async function run(argv: string[], answer: () => Promise<Response>) {
  let sent = 0;
  const fetch: typeof globalThis.fetch = async () => {
    sent++;
    return answer();
  };
  const out: string[] = [];
  const err: string[] = [];
  const io = { out: (t: string) => void out.push(t), err: (t: string) => void err.push(t), env: {}, fetch };
  const code = await main(["--api", "http://127.0.0.1:3000", ...argv], io);
  return { code, out: out.join(""), err: err.join(""), sent };
}

const noAnswer = async (): Promise<Response> => {
  throw new TypeError("fetch failed");
};
const unavailable = async () =>
  new Response(JSON.stringify({ error: { code: "service_unavailable", message: "busy" } }), { status: 503 });
const refused = async () =>
  new Response(JSON.stringify({ error: { code: "validation_failed", message: "bad" } }), { status: 400 });

const create = scheduleCreate("--content", "{}");
const replay = ["tasks", "replay", "demo.k3Jx0aQ9fT2bLw1c.mhx0z8ka.01JD3ABCDEFGHJKMNPQRSTVWXY"];

describe("a create or a single replay that may have been applied", () => {
  it.each([
    [
      "schedules create, no answer",
      create,
      noAnswer,
      /the schedule may have been created: look with schedules list --topic demo/,
    ],
    ["schedules create, 503", create, unavailable, /the schedule may have been created/],
    [
      "tasks replay, no answer",
      replay,
      noAnswer,
      /the task may have been replayed: look with tasks get demo\.k3Jx/,
    ],
  ])("%s: exit 3, one request, and the output says what may have happened", async (_, argv, answer, hint) => {
    // Act
    const result = await run(argv, answer);

    // Assess
    expect(result.code).toBe(3);
    expect(result.sent).toBe(1);
    expect(result.err).toMatch(hint);
  });

  it("--json: where to look is in the error document, beside the error", async () => {
    // Act
    const result = await run(["--json", ...create], unavailable);

    // Assess
    expect(result.code).toBe(3);
    expect(result.out).toBe("");
    const printed = JSON.parse(result.err);
    expect(printed.error).toMatchObject({ code: "service_unavailable", status: 503 });
    expect(printed.retry).toEqual({ look_first: "schedules list --topic demo" });
  });

  it("a refusal (400, nothing done) says nothing of it", async () => {
    // Act
    const result = await run(create, refused);

    // Assess
    expect(result.code).toBe(2);
    expect(result.err).not.toMatch(/may have been/);
  });
});
