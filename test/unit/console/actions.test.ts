import { afterEach, describe, expect, it, vi } from "vitest";
import { MAX_ERROR_CHARS } from "../../../console/src/action.js";
import {
  cancelTask,
  createSchedule,
  createScheduleFromForm,
  deadLetterDiscardLabel,
  discardDeadLetter,
  discardTask,
  replaySubscriber,
  resetDestination,
  scheduleAction,
  taskViewAction,
  toggleTopic,
} from "../../../console/src/actions.js";
import type { TopicView } from "../../../console/src/api.js";
import { jsonAnswer as json, stubConsoleFetch as stubFetch } from "../../support/fakes/console-fetch.js";

/**
 * The console's other action buttons, run as the page runs them (console/src/actions.ts) against a stubbed
 * `fetch`: a refusal, an error or no answer is the line the panel shows, never a rejection dropped by the click.
 */

const yes = async () => true;
const no = async () => false;

afterEach(() => {
  vi.unstubAllGlobals();
});

const topic = (paused: boolean): TopicView => ({
  topic: "demo",
  paused,
  backlog: { waiting: 0, in_flight: 0 },
  oldest_age_seconds: null,
  dead_letter_count: 0,
});

describe("a topic's Pause / Resume", () => {
  it("a refusal says why, with the API's code and message", async () => {
    // Prepare
    const sent = stubFetch(() =>
      json(403, { error: { code: "forbidden", message: "not allowed <script>" } }),
    );

    // Act
    const line = await toggleTopic(topic(false), yes);

    // Assess
    expect(sent).toEqual([{ method: "POST", path: "/v1/topics/demo/pause" }]);
    expect(line).toBe("demo not paused: forbidden: not allowed <script>");
  });

  it("no answer says so", async () => {
    stubFetch(() => Promise.reject(new TypeError("Failed to fetch")));
    expect(await toggleTopic(topic(true), yes)).toBe(
      "demo may have been resumed; check before repeating: network error: Failed to fetch",
    );
  });

  it("done says so; declined sends nothing", async () => {
    const sent = stubFetch(() => json(200, { topic: "demo", paused: false }));
    expect(await toggleTopic(topic(true), no)).toBeUndefined();
    expect(sent).toEqual([]);
    expect(await toggleTopic(topic(true), yes)).toBe("demo resumed");
    expect(sent).toEqual([{ method: "POST", path: "/v1/topics/demo/resume" }]);
  });
});

describe("a task's Cancel (task view)", () => {
  it("a refusal says why: the task went on meanwhile (409 with its status)", async () => {
    // Prepare
    const sent = stubFetch(() =>
      json(409, {
        error: {
          code: "conflict",
          message: "task is queued; it can no longer be cancelled",
          task_status: "queued",
        },
      }),
    );

    // Act
    const line = await cancelTask("demo#01J", yes);

    // Assess
    expect(sent).toEqual([{ method: "DELETE", path: "/v1/tasks/demo%2301J" }]);
    expect(line).toBe("demo#01J not cancelled: conflict: task is queued; it can no longer be cancelled");
  });

  it("no answer, or a 5xx without a body, says it may have been cancelled (the request may have acted)", async () => {
    stubFetch(() => Promise.reject(new TypeError("Failed to fetch")));
    expect(await cancelTask("t1", yes)).toBe(
      "t1 may have been cancelled; check before repeating: network error: Failed to fetch",
    );
    stubFetch(() => new Response("", { status: 502 }));
    expect(await cancelTask("t1", yes)).toBe("t1 may have been cancelled; check before repeating: HTTP 502");
  });

  it("punctual console's 502 not_sent (signing failed: expired credentials) says not cancelled", async () => {
    const message = "not sent to the API: signing the call failed: the SSO session has expired";
    stubFetch(() => json(502, { error: { code: "not_sent", message } }));
    expect(await cancelTask("t1", yes)).toBe(`t1 not cancelled: not_sent: ${message}`);
  });

  it("the API's 503 service_unavailable (nothing changed, retry) says not cancelled", async () => {
    stubFetch(() => json(503, { error: { code: "service_unavailable", message: "retry" } }));
    expect(await cancelTask("t1", yes)).toBe("t1 not cancelled: service_unavailable: retry");
  });

  it("asks about the task by id; declined sends nothing; done says so", async () => {
    const sent = stubFetch(() => json(200, { task_id: "t1", status: "cancelled" }));
    const asked: string[] = [];
    const ask = async (question: string) => {
      asked.push(question);
      return asked.length > 1;
    };
    expect(await cancelTask("t1", ask)).toBeUndefined();
    expect(sent).toEqual([]);
    expect(await cancelTask("t1", ask)).toBe("cancelled t1; it will never be delivered");
    expect(asked[0]).toBe("Cancel task t1? It will never be delivered.");
  });

  it("a delivering task's cancel asks and answers about its retries, not about a delivery already made", async () => {
    stubFetch(() => json(200, { task_id: "t1", status: "cancelled" }));
    const asked: string[] = [];
    const ask = async (question: string) => {
      asked.push(question);
      return true;
    };
    expect(await cancelTask("t1", ask, true)).toBe("cancelled t1; its receiver will not be called again");
    expect(asked).toEqual([
      "Cancel task t1? It is retrying: its receiver will not be called again (a callback being made now cannot be unsent; the task ends after it).",
    ]);
  });
});

describe("a fan-out task's Cancel (task view)", () => {
  it("asks naming what its DELETE does to the finished copies: the dead-lettered discarded, the delivered left", async () => {
    // Prepare: one copy dead-lettered, one delivered, one still scheduled (the task reads `scheduled`)
    const sent = stubFetch(() => json(200, { task_id: "t1", status: "delivered" }));
    const asked: string[] = [];
    const copies = [{ status: "failed" }, { status: "delivered" }, { status: "scheduled" }];

    // Act
    await cancelTask(
      "t1",
      async (question) => {
        asked.push(question);
        return true;
      },
      false,
      copies,
    );
    await cancelTask(
      "t1",
      async (question) => {
        asked.push(question);
        return true;
      },
      true,
      [{ status: "delivering" }, { status: "scheduled" }],
    );

    // Assess
    expect(asked).toEqual([
      "Cancel task t1? Its copies not yet delivered will never be delivered. Its dead-lettered copies (1) are discarded: no replay delivers them. Its delivered copies (1) stay delivered.",
      "Cancel task t1? Its copies not yet delivered are not called again (a callback being made now cannot be unsent; that copy ends after it).",
    ]);
    expect(sent).toHaveLength(2);
  });
});

describe("the cancel of a fan-out task whose copy was being delivered", () => {
  it("names each copy's new state, the one whose callback is under way saying how it ends", async () => {
    // Prepare: the API cancelled the parent and one copy; the other copy's callback was being made (its cancel
    // requested: the API's 202)
    stubFetch(() =>
      json(202, {
        task_id: "t1",
        status: "delivering",
        cancel_requested: true,
        subscribers: [
          { id: "billing", task_id: "t1.billing", status: "delivering", cancel_requested: true },
          { id: "email", task_id: "t1.email", status: "cancelled" },
        ],
      }),
    );

    // Act
    const line = await cancelTask("t1", yes, true);

    // Assess
    expect(line).toBe(
      "cancelled t1 (now delivering): billing delivering (cancel requested: delivered if it succeeds, cancelled otherwise; not called again), email cancelled",
    );
  });

  it("a plain task whose callback is being made: says its cancel is requested and how it ends", async () => {
    stubFetch(() => json(202, { task_id: "t1", status: "delivering", cancel_requested: true }));
    expect(await cancelTask("t1", yes, true)).toBe(
      "cancel requested for t1: its callback is being made now, and it ends after that attempt (delivered if it succeeds, cancelled otherwise; not called again)",
    );
  });

  it("with every copy cancelled, names each", async () => {
    stubFetch(() =>
      json(200, {
        task_id: "t1",
        status: "cancelled",
        subscribers: [{ id: "a", task_id: "t1.a", status: "cancelled" }],
      }),
    );
    expect(await cancelTask("t1", yes, true)).toBe("cancelled t1 (now cancelled): a cancelled");
  });
});

describe("a fan-out task's Cancel names what its DELETE did to each copy, as Discard dead letters does", () => {
  it("the dead-lettered copy discarded, the scheduled one cancelled, the delivered one left", async () => {
    // Prepare: the answer to the parent's DELETE: `down` was dead-lettered, `late` scheduled, `ok` delivered
    stubFetch(() =>
      json(200, {
        task_id: "t1",
        status: "delivered",
        subscribers: [
          { id: "ok", task_id: "t1.ok", status: "delivered" },
          { id: "down", task_id: "t1.down", status: "cancelled" },
          { id: "late", task_id: "t1.late", status: "cancelled" },
        ],
      }),
    );

    // Act
    const line = await cancelTask("t1", yes, false, [
      { status: "delivered" },
      { status: "failed" },
      { status: "scheduled" },
    ]);

    // Assess
    expect(line).toBe("cancelled t1 (now delivered): ok delivered, down cancelled, late cancelled");
  });

  it("a broken API's answer is no page of a line: each value it quotes is cut, and more rows than a task has name none", async () => {
    // Prepare
    const long = "z".repeat(50_000);
    stubFetch(() => json(200, { task_id: "t1", status: long, subscribers: [{ id: long, status: long }] }));

    // Act
    const line = (await cancelTask("t1", yes)) ?? "";

    // Assess
    expect(line.length).toBeLessThan(400);
    expect(line.startsWith("cancelled t1 (now zzz")).toBe(true);
    const rows = Array.from({ length: 5000 }, (_, i) => ({ id: `s${i}`, status: "cancelled" }));
    stubFetch(() => json(200, { task_id: "t1", status: "cancelled", subscribers: rows }));
    expect(await cancelTask("t1", yes)).toBe("cancelled t1; it will never be delivered");
  });
});

describe("a task view's action for its status", () => {
  it.each([
    ["scheduled", false, "Cancel task"],
    ["queued", false, "Cancel task"],
    ["delivering", true, "Cancel task"],
    ["failed", false, "Discard"],
    ["failed", true, "Discard dead letters"],
    ["delivered", false, "nothing"],
    ["delivered", true, "nothing"],
    ["cancelled", false, "nothing"],
    ["rescheduled", false, "nothing"],
  ] as const)("a %s task (fan-out: %s) offers %s", (status, fanOut, action) => {
    const subscribers = fanOut ? [{ id: "a" }] : undefined;
    expect(taskViewAction({ status, subscribers }) ?? "nothing").toBe(action);
  });
});

describe("a dead-lettered task's Discard (task view)", () => {
  it("asks first, naming the task and that it can no longer be replayed; declined sends nothing; done says its new state", async () => {
    // Prepare
    const sent = stubFetch(() => json(200, { task_id: "demo#01J", status: "cancelled" }));
    const asked: [string, string][] = [];
    const ask = async (question: string, button: string) => {
      asked.push([question, button]);
      return asked.length > 1;
    };

    // Act
    const declined = await discardTask("demo#01J", false, ask);
    const line = await discardTask("demo#01J", false, ask);

    // Assess
    expect(declined).toBeUndefined();
    expect(asked[0]).toEqual([
      "Discard dead-lettered task demo#01J? It will not be delivered, and can no longer be replayed.",
      "Discard",
    ]);
    expect(sent).toEqual([{ method: "DELETE", path: "/v1/tasks/demo%2301J" }]);
    expect(line).toBe("discarded demo#01J; it will not be delivered (now cancelled)");
  });

  it("a fan-out task's asks what its DELETE does to each kind of copy, and answers with every copy's new state", async () => {
    // Prepare: `down` was dead-lettered, `ok` delivered; the DELETE discards the first and leaves the second
    const sent = stubFetch(() =>
      json(200, {
        task_id: "t1",
        status: "delivered",
        subscribers: [
          { id: "ok", task_id: "t1.ok", status: "delivered" },
          { id: "down", task_id: "t1.down", status: "cancelled" },
        ],
      }),
    );
    const asked: [string, string][] = [];

    // Act
    const line = await discardTask("t1", true, async (question, button) => {
      asked.push([question, button]);
      return true;
    });

    // Assess
    expect(asked).toEqual([
      [
        "Discard the dead-lettered copies of task t1? Each is cancelled and leaves the dead-letter list, so no replay delivers it. A copy not yet delivered (replayed meanwhile) is cancelled too; delivered copies stay delivered.",
        "Discard dead letters",
      ],
    ]);
    expect(sent).toEqual([{ method: "DELETE", path: "/v1/tasks/t1" }]);
    expect(line).toBe("discarded the dead letters of t1 (now delivered): ok delivered, down cancelled");
  });

  it("a copy replayed meanwhile whose callback is under way (the API's 202) says how it ends", async () => {
    stubFetch(() =>
      json(202, {
        task_id: "t1",
        status: "delivering",
        cancel_requested: true,
        subscribers: [
          { id: "a", task_id: "t1.a", status: "cancelled" },
          { id: "b", task_id: "t1.b", status: "delivering", cancel_requested: true },
        ],
      }),
    );
    expect(await discardTask("t1", true, yes)).toBe(
      "discarded the dead letters of t1 (now delivering): a cancelled, b delivering (cancel requested: delivered if it succeeds, cancelled otherwise; not called again)",
    );
  });

  it("a plain task replayed meanwhile whose callback is under way (202) says its cancel is requested", async () => {
    stubFetch(() => json(202, { task_id: "t1", status: "delivering", cancel_requested: true }));
    expect(await discardTask("t1", false, yes)).toBe(
      "cancel requested for t1: its callback is being made now, and it ends after that attempt (delivered if it succeeds, cancelled otherwise; not called again)",
    );
  });

  it("a broken API's answer is no page of a line: each value it quotes is cut, and more rows than a task has name none", async () => {
    // Prepare
    const long = "z".repeat(50_000);
    stubFetch(() => json(200, { task_id: "t1", status: long, subscribers: [{ id: long, status: long }] }));

    // Act
    const line = (await discardTask("t1", true, yes)) ?? "";

    // Assess
    expect(line.length).toBeLessThan(400);
    expect(line.startsWith("discarded the dead letters of t1 (now zzz")).toBe(true);
    const rows = Array.from({ length: 5000 }, (_, i) => ({ id: `s${i}`, status: "cancelled" }));
    stubFetch(() => json(200, { task_id: "t1", status: "cancelled", subscribers: rows }));
    expect(await discardTask("t1", true, yes)).toBe("discarded the dead letters of t1");
  });

  it("a 409 (replayed and delivered meanwhile) or a 404 says why, with the API's code and message", async () => {
    stubFetch(() =>
      json(409, {
        error: {
          code: "conflict",
          message: "task is delivered; it can no longer be cancelled",
          task_status: "delivered",
        },
      }),
    );
    expect(await discardTask("t1", true, yes)).toBe(
      "t1 not discarded: conflict: task is delivered; it can no longer be cancelled",
    );
    stubFetch(() => json(404, { error: { code: "not_found", message: "task not found" } }));
    expect(await discardTask("t1", false, yes)).toBe("t1 not discarded: not_found: task not found");
  });
});

describe("a dead letter's Discard (dead-letter list)", () => {
  it("is the task view's Discard: its label, question, DELETE and line", async () => {
    // Prepare
    const sent = stubFetch(() => json(200, { task_id: "demo#01J", status: "cancelled" }));
    const asked: [string, string][] = [];
    const ask = async (question: string, button: string) => {
      asked.push([question, button]);
      return true;
    };

    // Act
    const row = await discardDeadLetter({ task_id: "demo#01J" }, ask);
    const view = await discardTask("demo#01J", false, ask);

    // Assess
    expect(deadLetterDiscardLabel({})).toBe(taskViewAction({ status: "failed" }));
    expect(asked[0]).toEqual([
      "Discard dead-lettered task demo#01J? It will not be delivered, and can no longer be replayed.",
      "Discard",
    ]);
    expect(asked[1]).toEqual(asked[0]);
    expect(sent).toEqual([
      { method: "DELETE", path: "/v1/tasks/demo%2301J" },
      { method: "DELETE", path: "/v1/tasks/demo%2301J" },
    ]);
    expect(row).toBe("discarded demo#01J; it will not be delivered (now cancelled)");
    expect(view).toBe(row);
  });

  it("a fan-out task's row is its view's Discard dead letters", async () => {
    // Prepare
    stubFetch(() =>
      json(200, {
        task_id: "t1",
        status: "cancelled",
        subscribers: [{ id: "down", task_id: "t1.down", status: "cancelled" }],
      }),
    );
    const subscribers = [{ id: "down" }];
    const asked: string[] = [];

    // Act
    const line = await discardDeadLetter({ task_id: "t1", subscribers }, async (_question, button) => {
      asked.push(button);
      return true;
    });

    // Assess
    expect(deadLetterDiscardLabel({ subscribers })).toBe(taskViewAction({ status: "failed", subscribers }));
    expect(asked).toEqual(["Discard dead letters"]);
    expect(line).toBe("discarded the dead letters of t1 (now cancelled): down cancelled");
  });
});

/**
 * These already caught their errors, but showed only the message: no code, and uncut (a proxy's 100 KB page went
 * onto the panel whole). Each now says the API's code and message, cut to MAX_ERROR_CHARS.
 */
describe("the actions that showed their errors: the API's code and message, cut", () => {
  const long = "y".repeat(50_000);
  const actions: [string, () => Promise<string | undefined>, string, string][] = [
    [
      "a task view's Discard",
      () => discardTask("t1", false, yes),
      "t1 not discarded",
      "t1 may have been discarded",
    ],
    [
      "a fan-out task view's Discard dead letters",
      () => discardTask("t1", true, yes),
      "t1 not discarded",
      "t1 may have been discarded",
    ],
    [
      "a dead letter's Discard",
      () => discardDeadLetter({ task_id: "t1" }, yes),
      "t1 not discarded",
      "t1 may have been discarded",
    ],
    [
      "a schedule's Pause",
      () => scheduleAction({ schedule_id: "s1", cron: "* * * * *" }, "pause", yes),
      "s1 not paused",
      "s1 may have been paused",
    ],
    [
      "a schedule's Resume",
      () => scheduleAction({ schedule_id: "s1", cron: "* * * * *" }, "resume", yes),
      "s1 not resumed",
      "s1 may have been resumed",
    ],
    [
      "a schedule's Delete",
      () => scheduleAction({ schedule_id: "s1", cron: "* * * * *" }, "delete", yes),
      "s1 not deleted",
      "s1 may have been deleted",
    ],
    [
      "Create schedule",
      () => createSchedule({ topic: "demo", cron: "bad" }),
      "not created",
      "the schedule may have been created",
    ],
    [
      "a circuit's Reset",
      () => resetDestination({ host: "example.com", topic: "demo" }, yes),
      "example.com not reset",
      "example.com may have been reset",
    ],
    [
      "a subscriber's Replay",
      () => replaySubscriber("t1", "down", yes),
      "down not replayed",
      "down may have been replayed",
    ],
  ];

  it.each(actions)("%s: a 409 says its code and message", async (_name, act, failed) => {
    stubFetch(() => json(409, { error: { code: "conflict", message: "it changed meanwhile" } }));
    expect(await act()).toBe(`${failed}: conflict: it changed meanwhile`);
  });

  it.each(actions)("%s: a very long error is cut", async (_name, act, failed) => {
    stubFetch(() => json(400, { error: { code: "validation_failed", message: long } }));
    const line = (await act()) ?? "";
    expect(line.startsWith(`${failed}: validation_failed: yyy`)).toBe(true);
    expect(line.length).toBeLessThanOrEqual(failed.length + 2 + MAX_ERROR_CHARS);
  });

  it.each(actions)(
    "%s: no answer says it may have acted, not that it did not",
    async (_name, act, _f, unsure) => {
      stubFetch(() => Promise.reject(new TypeError("Failed to fetch")));
      expect(await act()).toBe(`${unsure}; check before repeating: network error: Failed to fetch`);
    },
  );

  it.each(actions)(
    "%s: the API's 500 (it may have acted) says so, not 'not …'",
    async (_name, act, _f, unsure) => {
      // Prepare: the API's own answer when a write failed after it may have been applied
      const message = "the task was or may have been replayed, but a storage call failed";
      stubFetch(() => json(500, { error: { code: "internal_error", message } }));

      // Act
      const line = await act();

      // Assess
      expect(line).toBe(`${unsure}; check before repeating: internal_error: ${message}`);
    },
  );

  it.each(actions)(
    "%s: a gateway's 504 (the call timed out, the function ran on) says it may have acted",
    async (_name, act, _f, unsure) => {
      stubFetch(() => json(504, { message: "Endpoint request timed out" }));
      expect(await act()).toBe(`${unsure}; check before repeating: HTTP 504: Endpoint request timed out`);
    },
  );

  it.each(actions)(
    "%s: the API's 503 service_unavailable changed nothing: not …",
    async (_name, act, failed) => {
      stubFetch(() => json(503, { error: { code: "service_unavailable", message: "throttled; retry" } }));
      expect(await act()).toBe(`${failed}: service_unavailable: throttled; retry`);
    },
  );
});

describe("the same actions when they work", () => {
  it("say what they did", async () => {
    stubFetch(() => json(200, { schedule_id: "s1", status: "paused" }));
    expect(await scheduleAction({ schedule_id: "s1", cron: "* * * * *" }, "pause", yes)).toBe("s1 is paused");
    stubFetch(() => json(201, { schedule_id: "s2", status: "active" }));
    expect(await createSchedule({ topic: "demo" })).toBe("created s2");
    stubFetch(() => json(200, { host: "example.com", destinations: [{ topic: "demo", state: "closed" }] }));
    expect(await resetDestination({ host: "example.com", topic: "demo" }, yes)).toBe(
      "reset example.com (demo: closed)",
    );
    stubFetch(() => json(202, {}));
    expect(await replaySubscriber("t1", "down", yes)).toBe("replaying down");
  });

  it.each(["[::1]:8443", "a$b~c!.example.com", "x&y'z(1)*+,;=.example.com:8443", 'a{b}`"c.example.com'])(
    "a reset of %s names that host in one path segment, as the gateway decodes it",
    async (host) => {
      // Prepare: any host the list shows, characters a URL host may hold included
      const sent = stubFetch(() => json(200, { host, destinations: [] }));

      // Act
      await resetDestination({ host, topic: "demo" }, yes);

      // Assess: fetch sends the path as written (no character it would encode or normalize), one segment
      const path = sent[0]?.path ?? "";
      const pathname = path.split("?")[0] ?? "";
      expect(new URL(path, "http://127.0.0.1").pathname).toBe(pathname);
      const segments = pathname.split("/");
      expect(segments).toHaveLength(5);
      expect(decodeURIComponent(segments[3] ?? "")).toBe(host);
    },
  );

  it("a reset answer listing more circuits than a reset of one topic lists is refused, none of it written into the line", async () => {
    // Prepare: a broken API's answer of thousands of circuits (a reset of one topic lists at most 2)
    const destinations = Array.from({ length: 5000 }, () => ({ topic: "demo", state: "closed" }));
    stubFetch(() => json(200, { host: "example.com", destinations }));

    // Act
    const line = (await resetDestination({ host: "example.com", topic: "demo" }, yes)) ?? "";

    // Assess: the panel's line says the answer is malformed, cut as every error line is
    expect(line).toMatch(/^example.com not reset: the API's answer is malformed: .*destinations/);
    expect(line.length).toBeLessThanOrEqual("example.com not reset: ".length + MAX_ERROR_CHARS);
  });

  it("a reset answer listing another topic's circuit is refused, not shown as this topic's", async () => {
    stubFetch(() => json(200, { host: "example.com", destinations: [{ topic: "other", state: "closed" }] }));
    expect(await resetDestination({ host: "example.com", topic: "demo" }, yes)).toBe(
      "example.com not reset: the API's answer is about another topic's circuit, other",
    );
  });

  it("a malformed answer to a reset says so, not a TypeError", async () => {
    stubFetch(() => json(200, { host: "example.com" }));
    expect(await resetDestination({ host: "example.com", topic: "demo" }, yes)).toMatch(
      /^example.com not reset: the API's answer is malformed: .*destinations/,
    );
  });
});

describe("a subscriber's Replay", () => {
  it("asks first, naming the copy: it delivers that callback again; declined sends nothing", async () => {
    // Prepare
    const sent = stubFetch(() => json(202, {}));
    const asked: string[] = [];

    // Act
    const line = await replaySubscriber("demo#01J", "down", async (question) => {
      asked.push(question);
      return false;
    });

    // Assess
    expect(line).toBeUndefined();
    expect(asked).toEqual([expect.stringMatching(/down.*demo#01J/)]);
    expect(sent).toEqual([]);
  });
});

describe("the Schedules panel's create form", () => {
  const form = (content: string, catchUp: "all" | "latest" | "none" = "all") => ({
    cron: "0 9 * * *",
    timezone: "UTC",
    content,
    callback: "",
    catchUp,
  });

  it("sends the content exactly as typed (numbers as written), as every occurrence will carry it", async () => {
    // Prepare: a number no JS number holds, and one whose written form JSON.parse would change
    const typed = '{"order_id":12345678901234567890,"price":1.10}';
    const sent = stubFetch(() => json(201, { schedule_id: "s3", status: "active" }));

    // Act
    const line = await createScheduleFromForm("demo", form(typed));

    // Assess
    expect(line).toBe("created s3");
    expect(sent).toHaveLength(1);
    expect(sent[0]?.body).toEqual({ topic: "demo", cron: "0 9 * * *", timezone: "UTC", content: typed });
  });

  it("sends the catch-up policy chosen, and none for `all` (the API's default)", async () => {
    // Prepare
    const sent = stubFetch(() => json(201, { schedule_id: "s5", status: "active" }));

    // Act
    await createScheduleFromForm("demo", form("{}", "latest"));
    await createScheduleFromForm("demo", form("{}", "all"));

    // Assess
    expect(sent.map((request) => (request.body as { catch_up?: string }).catch_up)).toEqual([
      "latest",
      undefined,
    ]);
  });

  it("content that is not JSON is the panel's line, and nothing is sent", async () => {
    const sent = stubFetch(() => json(201, { schedule_id: "s4", status: "active" }));

    expect(await createScheduleFromForm("demo", form("{order_id: 1}"))).toMatch(/^content is not JSON: /);
    expect(sent).toHaveLength(0);
  });
});
