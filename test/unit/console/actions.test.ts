import { afterEach, describe, expect, it, vi } from "vitest";
import { cancelTask, toggleTopic } from "../../../console/src/actions.js";
import type { TopicView } from "../../../console/src/api.js";

/**
 * The console's other action buttons, run as the page runs them (console/src/actions.ts) against a stubbed
 * `fetch`: a refusal, an error or no answer is the line the panel shows, never a rejection dropped by the click.
 */

interface Sent {
  readonly method: string;
  readonly path: string;
}

function stubFetch(answer: () => Response | Promise<Response>): Sent[] {
  const sent: Sent[] = [];
  vi.stubGlobal("fetch", async (path: string, init: RequestInit) => {
    sent.push({ method: init.method ?? "GET", path });
    return answer();
  });
  return sent;
}

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
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
    expect(await toggleTopic(topic(true), yes)).toBe("demo not resumed: network error: Failed to fetch");
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
    expect(line).toBe("not cancelled: conflict: task is queued; it can no longer be cancelled");
  });

  it("no answer, or a 5xx without a body, says so", async () => {
    stubFetch(() => Promise.reject(new TypeError("Failed to fetch")));
    expect(await cancelTask("t1", yes)).toBe("not cancelled: network error: Failed to fetch");
    stubFetch(() => new Response("", { status: 502 }));
    expect(await cancelTask("t1", yes)).toBe("not cancelled: HTTP 502: HTTP 502");
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
});
