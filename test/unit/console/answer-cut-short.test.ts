import { afterEach, describe, expect, it, vi } from "vitest";
import { cancelTask, createSchedule, toggleTopic } from "../../../console/src/actions.js";
import { stubConsoleFetch as stubFetch } from "../../support/fakes/console-fetch.js";

/**
 * An answer whose status came but whose body was lost on its way (the connection dropped while it was read: the
 * browser's `response.text()` rejects): the request reached the API and may have acted, so the line says so, as it
 * does for no answer at all (console/src/action.ts `mayHaveActed`), never "not cancelled", which a repeat trusts.
 * Firefox words that failure "NetworkError when attempting to fetch resource.", Node (undici) "terminated".
 */
const yes = async () => true;

afterEach(() => {
  vi.unstubAllGlobals();
});

/** A response with `status` whose body breaks off with `error` after its first bytes. */
function cutShort(status: number, error: Error): Response {
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      controller.enqueue(new TextEncoder().encode('{"task_id":"t1",'));
      controller.error(error);
    },
  });
  return new Response(body, { status, headers: { "content-type": "application/json" } });
}

describe("an answer whose body is lost while read", () => {
  it.each([
    ["Firefox", new TypeError("NetworkError when attempting to fetch resource.")],
    ["Node", new TypeError("terminated")],
  ])("%s: a task's Cancel says it may have been cancelled", async (_browser, error) => {
    // Prepare
    stubFetch(() => cutShort(200, error));

    // Act
    const line = await cancelTask("t1", yes);

    // Assess
    expect(line).toBe(`t1 may have been cancelled; check before repeating: network error: ${error.message}`);
  });

  it("Create schedule (no idempotency key) says the schedule may have been created", async () => {
    stubFetch(() => cutShort(201, new TypeError("terminated")));
    expect(await createSchedule({ topic: "demo" })).toBe(
      "the schedule may have been created; check before repeating: network error: terminated",
    );
  });

  it("a topic's Pause says it may have been paused", async () => {
    stubFetch(() => cutShort(200, new TypeError("terminated")));
    expect(await toggleTopic({ topic: "demo", paused: false } as never, yes)).toBe(
      "demo may have been paused; check before repeating: network error: terminated",
    );
  });
});
