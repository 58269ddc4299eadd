import { PunctualClient } from "punctual/client";
import { describe, expect, it } from "vitest";
import { addAnswer, recordingSleep, scriptedFetch, taskId } from "./fakes.js";

/** The client against a server that answers what it should not: what the client does with each answer. */
const API = "http://127.0.0.1:3000";
const addBody = { topic: "demo", delay_seconds: 90, content: { n: 1 } };
const busy = (retryAfter: string) => ({
  status: 503,
  body: { error: { code: "service_unavailable", message: "busy" } },
  headers: { "retry-after": retryAfter },
});

describe("a hostile Retry-After", () => {
  /** The wait before the second attempt, after a 503 with this Retry-After; full-jitter backoff would wait 100 ms. */
  async function waitAfter(retryAfter: string): Promise<number | undefined> {
    const { fetch } = scriptedFetch(busy(retryAfter), { status: 201, body: addAnswer(taskId()) });
    const { sleep, waits } = recordingSleep();
    const client = new PunctualClient({
      apiUrl: API,
      fetch,
      sleep,
      random: () => 0.5,
      now: () => Date.parse("2026-11-23T12:00:00Z"),
      addBatching: false,
    });
    await client.addTask(addBody);
    return waits[0];
  }

  it.each(["-5", "5.5", "-1", " 7 x", "1 2"])(
    "%j, neither delay-seconds nor an HTTP date, is ignored: the backoff applies, not an immediate retry",
    async (retryAfter) => {
      expect(await waitAfter(retryAfter)).toBe(100);
    },
  );

  it.each([
    ["99999999999999999999999", 20_000],
    ["Fri, 31 Dec 9999 23:59:59 GMT", 20_000],
    ["Mon, 23 Nov 2026 12:00:03 GMT", 3_000],
    ["Monday, 23-Nov-26 12:00:03 GMT", 3_000],
    ["Mon Nov 23 12:00:03 2026", 3_000],
    ["Sun, 22 Nov 2026 12:00:00 GMT", 0],
    ["2", 2_000],
  ])("%j is honoured, capped at maxDelayMs (20 s)", async (retryAfter, expected) => {
    expect(await waitAfter(retryAfter)).toBe(expected);
  });

  it("asctime's form, which names no zone, is read as GMT whatever the machine's time zone", async () => {
    // Prepare: a machine whose local time is not GMT (Node reads TZ again when it is set).
    const saved = process.env.TZ;
    process.env.TZ = "America/New_York";
    try {
      // Act
      const wait = await waitAfter("Mon Nov 23 12:00:03 2026");

      // Assess
      expect(wait).toBe(3_000);
    } finally {
      if (saved === undefined) delete process.env.TZ;
      else process.env.TZ = saved;
    }
  });
});
