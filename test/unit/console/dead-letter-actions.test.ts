import { afterEach, describe, expect, it, vi } from "vitest";
import { MAX_ERROR_CHARS } from "../../../console/src/action.js";
import { replayFilterOf, replayMatching, replaySelected } from "../../../console/src/dead-letter-actions.js";
import { jsonAnswer as json, stubConsoleFetch as stubFetch } from "../../support/fakes/console-fetch.js";

/**
 * The dead-letter panel's actions, run as the page runs them (console/src/dead-letter-actions.ts) against a
 * stubbed `fetch`: every failure — a structured API error, a non-2xx without one, no answer at all, a malformed
 * answer — ends in a line for the operator, never in a rejection the click handler drops.
 */

/** A confirmation the test answers; records what it was asked. */
function asker(yes: boolean) {
  const asked: string[] = [];
  const ask = async (question: string) => {
    asked.push(question);
    return yes;
  };
  return { asked, ask };
}

afterEach(() => {
  vi.unstubAllGlobals();
});

describe("Replay all matching: the filter form's fields", () => {
  it("are the route's filter: the text as typed, each local time as its ISO instant, an empty field left out", () => {
    // Act
    const filter = replayFilterOf({ errorContains: " HTTP 5", after: "2026-12-05T13:00", before: "" });

    // Assess
    expect(filter).toEqual({
      error_contains: " HTTP 5",
      failed_after: new Date("2026-12-05T13:00").toISOString(),
    });
  });

  it.each([
    ["failed after", { after: "10000-01-01T00:00", before: "" }],
    ["before", { after: "", before: "275760-09-12T23:59" }],
  ])(
    'a year past 9999 in "%s" (the date picker takes six digits) is a problem naming the field, not a throw',
    (label, times) => {
      // Act
      const filter = replayFilterOf({ errorContains: "", ...times });

      // Assess
      expect(filter).toEqual({ problem: expect.stringContaining(`"${label}" is no date`) });
    },
  );
});

describe("Replay all matching: the dry run behind its confirmation", () => {
  const failures: [string, () => Response | Promise<Response>, string | RegExp][] = [
    [
      "a structured API error (code and message)",
      () => json(503, { error: { code: "service_unavailable", message: "throttled <b>retry</b>" } }),
      "not replayed: service_unavailable: throttled <b>retry</b>",
    ],
    [
      "a non-2xx that is not JSON (a proxy's page)",
      () => new Response("<html>Bad Gateway</html>", { status: 502 }),
      "not replayed: HTTP 502: <html>Bad Gateway</html>",
    ],
    ["a non-2xx with an empty body", () => new Response("", { status: 500 }), "not replayed: HTTP 500"],
    [
      "no answer at all",
      () => Promise.reject(new TypeError("Failed to fetch")),
      "not replayed: network error: Failed to fetch",
    ],
    [
      "a malformed answer",
      () => json(200, { matched: "many" }),
      /^not replayed: the API's answer is malformed: /,
    ],
    [
      "an answer that is not JSON",
      () => new Response("ok", { status: 200 }),
      /^not replayed: the API's answer/,
    ],
  ];

  it.each(failures)("%s: says so and why, and asks nothing", async (_name, answer, expected) => {
    // Prepare
    const sent = stubFetch(answer);
    const { asked, ask } = asker(true);

    // Act
    const line = await replayMatching("demo", { error_contains: "HTTP 500" }, ask);

    // Assess: one call (the dry run), no question, and the line says why.
    expect(sent).toEqual([
      { method: "POST", path: "/v1/topics/demo/replay", body: { error_contains: "HTTP 500", dry_run: true } },
    ]);
    expect(asked).toEqual([]);
    if (typeof expected === "string") expect(line).toBe(expected);
    else expect(line).toMatch(expected);
  });

  it("cuts a very long error to a sane length", async () => {
    stubFetch(() => json(400, { error: { code: "validation_failed", message: "x".repeat(100_000) } }));
    const line = await replayMatching("demo", {}, asker(true).ask);
    expect(line?.startsWith("not replayed: validation_failed: xxx")).toBe(true);
    expect(line?.length).toBeLessThanOrEqual("not replayed: ".length + MAX_ERROR_CHARS);
  });

  it("asks with the dry run's count, and replays page by page when the operator agrees", async () => {
    // Prepare
    const sent = stubFetch(({ body }) =>
      json(200, {
        matched: 2,
        replayed: (body as { dry_run?: boolean }).dry_run ? 0 : 2,
        failed: [],
        next_cursor: null,
      }),
    );
    const { asked, ask } = asker(true);

    // Act
    const line = await replayMatching("demo", {}, ask);

    // Assess
    expect(asked).toEqual(["Replay all 2 dead-lettered tasks matching this filter?"]);
    expect(sent.map((s) => s.body)).toEqual([{ dry_run: true }, {}]);
    expect(line).toBe("replayed 2 of 2 matching task(s)");
  });

  it("says how far it got after each page, once the operator said yes, and stops at the operator's Stop", async () => {
    // Prepare: every page replays one task and carries a cursor; Stop is pressed after the second real page
    const stop = new AbortController();
    let replayPages = 0;
    const sent = stubFetch(({ body }) => {
      const dry = (body as { dry_run?: boolean }).dry_run === true;
      if (!dry && ++replayPages === 2) stop.abort();
      return json(200, { matched: 1, replayed: dry ? 0 : 1, failed: [], next_cursor: `c${sent.length}` });
    });
    const events: string[] = [];
    const ask = async () => {
      events.push("asked");
      return true;
    };

    // Act
    const line = await replayMatching("demo", {}, ask, {
      signal: stop.signal,
      onStart: () => events.push("started"),
      onProgress: (progress) => events.push(progress),
    });

    // Assess: the dry run and two replay pages sent, nothing after the Stop
    expect(sent).toHaveLength(3);
    expect(events).toEqual([
      "asked",
      "started",
      "replaying… 1 of 1 matching task(s) replayed so far (1 page(s))",
      "replaying… 2 of 2 matching task(s) replayed so far (2 page(s))",
    ]);
    expect(line).toMatch(
      /^stopped after 2 page\(s\), having replayed 2 of 2 matching task\(s\): stopped as you asked/,
    );
  });

  it("answers nothing when the operator declines, and replays nothing", async () => {
    const sent = stubFetch(() => json(200, { matched: 1, replayed: 0, failed: [], next_cursor: null }));
    expect(await replayMatching("demo", {}, asker(false).ask)).toBeUndefined();
    expect(sent).toHaveLength(1);
  });

  it("a replay page answered with the API's 500 or not at all says its tasks may have been replayed", async () => {
    // Prepare: the dry run is fine; the replay's call fails where it may have acted.
    const failures = [
      () => json(500, { error: { code: "internal_error", message: "may have been replayed" } }),
      () => Promise.reject(new TypeError("Failed to fetch")),
    ];
    const lines: (string | undefined)[] = [];

    // Act
    for (const fail of failures) {
      stubFetch(({ body }) =>
        (body as { dry_run?: boolean }).dry_run
          ? json(200, { matched: 1, replayed: 0, failed: [], next_cursor: null })
          : fail(),
      );
      lines.push(await replayMatching("demo", {}, asker(true).ask));
    }

    // Assess
    expect(lines).toEqual([
      "stopped after 0 page(s), having replayed 0 of 0 matching task(s): a page failed: internal_error: may have been replayed (that page's tasks may have been replayed; check before replaying again)",
      "stopped after 0 page(s), having replayed 0 of 0 matching task(s): a page failed: network error: Failed to fetch (that page's tasks may have been replayed; check before replaying again)",
    ]);
  });

  it("a refused replay page (the API's 503) stops Replay all saying only why", async () => {
    stubFetch(({ body }) =>
      (body as { dry_run?: boolean }).dry_run
        ? json(200, { matched: 1, replayed: 0, failed: [], next_cursor: null })
        : json(503, { error: { code: "service_unavailable", message: "throttled" } }),
    );
    expect(await replayMatching("demo", {}, asker(true).ask)).toBe(
      "stopped after 0 page(s), having replayed 0 of 0 matching task(s): a page failed: service_unavailable: throttled",
    );
  });

  it("a malformed replay page stops Replay all as a failed page does", async () => {
    // Prepare: the dry run is fine; the replay answers nonsense.
    stubFetch(({ body }) =>
      (body as { dry_run?: boolean }).dry_run
        ? json(200, { matched: 1, replayed: 0, failed: [], next_cursor: null })
        : json(200, { replayed: "all" }),
    );

    // Act
    const line = await replayMatching("demo", {}, asker(true).ask);

    // Assess
    expect(line).toMatch(
      /^stopped after 0 page\(s\), having replayed 0 of 0 matching task\(s\): a page failed: the API's answer is malformed: /,
    );
  });
});

describe("Replay selected (and a row's Replay): POST task_ids", () => {
  it("a failed call says why: the API's code and message", async () => {
    // Prepare
    const sent = stubFetch(() =>
      json(503, {
        error: {
          code: "service_unavailable",
          message: "a storage call failed after 1 of the 2 matched tasks",
        },
      }),
    );
    const { asked, ask } = asker(true);

    // Act
    const line = await replaySelected("demo", ["t1", "t2"], ask);

    // Assess
    expect(asked).toEqual(["Replay 2 tasks? Each is delivered again from its first attempt."]);
    expect(sent.map((s) => s.body)).toEqual([{ task_ids: ["t1", "t2"] }]);
    expect(line).toBe(
      "replay failed: service_unavailable: a storage call failed after 1 of the 2 matched tasks",
    );
  });

  it("no answer, or a malformed one, says so: no answer, that it may have replayed", async () => {
    stubFetch(() => Promise.reject(new TypeError("Failed to fetch")));
    expect(await replaySelected("demo", ["t1"], asker(true).ask)).toBe(
      "task t1 may have been replayed; check before repeating: network error: Failed to fetch",
    );
    stubFetch(() => json(500, { error: { code: "internal_error", message: "may have been replayed" } }));
    expect(await replaySelected("demo", ["t1", "t2"], asker(true).ask)).toBe(
      "2 tasks may have been replayed; check before repeating: internal_error: may have been replayed",
    );
    stubFetch(() => json(200, { matched: 1, replayed: 1 }));
    expect(await replaySelected("demo", ["t1"], asker(true).ask)).toMatch(
      /^replay failed: the API's answer is malformed: .*failed/,
    );
  });

  it("the API answers per task: the line names each task not replayed and why", async () => {
    // Prepare: t2 was cancelled meanwhile, t3 is unknown (the route's `failed`).
    stubFetch(() =>
      json(200, {
        matched: 1,
        replayed: 1,
        failed: [
          { task_id: "t2", reason: "status cancelled" },
          { task_id: "t3", reason: "not_found" },
        ],
        next_cursor: null,
      }),
    );

    // Act
    const line = await replaySelected("demo", ["t1", "t2", "t3"], asker(true).ask);

    // Assess
    expect(line).toBe("replayed 1 of 3 selected; not replayed: t2 (status cancelled), t3 (not_found)");
  });

  it("a long list of failures stays a readable line: each cut, ten named, the rest counted", async () => {
    // Prepare
    const failed = Array.from({ length: 25 }, (_, i) => ({ task_id: `t${i}`, reason: "r".repeat(1_000) }));
    stubFetch(() => json(200, { matched: 0, replayed: 0, failed, next_cursor: null }));

    // Act
    const line =
      (await replaySelected(
        "demo",
        failed.map((f) => f.task_id),
        asker(true).ask,
      )) ?? "";

    // Assess
    expect(line.startsWith("replayed 0 of 25 selected; not replayed: t0 (rrr")).toBe(true);
    expect(line).toContain("t9 (");
    expect(line).not.toContain("t10 (");
    expect(line.endsWith("; and 15 more")).toBe(true);
    expect(line.length).toBeLessThan(2_000);
  });

  it("one task: asks about it by id; declined, sends nothing", async () => {
    const sent = stubFetch(() => json(200, { matched: 1, replayed: 1, failed: [], next_cursor: null }));
    const { asked, ask } = asker(false);
    expect(await replaySelected("demo", ["t1"], ask)).toBeUndefined();
    expect(asked).toEqual(["Replay task t1? Each is delivered again from its first attempt."]);
    expect(sent).toEqual([]);
    expect(await replaySelected("demo", ["t1"], asker(true).ask)).toBe("replayed 1 of 1 selected");
  });
});

describe("Replay selected keeps the selection unless the call was answered", () => {
  it("calls onReplayed only when the API answered the replay, not on a failure or a declined question", async () => {
    // Prepare
    let replayedCalls = 0;
    const onReplayed = () => void replayedCalls++;

    // Act: a failure, a malformed answer, a declined question, then an answer.
    stubFetch(() => json(503, { error: { code: "service_unavailable", message: "try again" } }));
    await replaySelected("demo", ["t1"], asker(true).ask, onReplayed);
    stubFetch(() => json(200, { matched: 1, replayed: 1 }));
    await replaySelected("demo", ["t1"], asker(true).ask, onReplayed);
    await replaySelected("demo", ["t1"], asker(false).ask, onReplayed);
    const afterFailures = replayedCalls;
    stubFetch(() => json(200, { matched: 1, replayed: 1, failed: [], next_cursor: null }));
    await replaySelected("demo", ["t1"], asker(true).ask, onReplayed);

    // Assess
    expect(afterFailures).toBe(0);
    expect(replayedCalls).toBe(1);
  });
});
