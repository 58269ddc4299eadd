import { PunctualClient } from "punctual/client";
import { describe, expect, it } from "vitest";
import { scriptedFetch } from "./fakes.js";

/**
 * A string holding half a surrogate pair (an emoji cut in two: `"A-😀".slice(0, 3)`) has no UTF-8 form. Put in a
 * query, URLSearchParams writes it as U+FFFD's `%EF%BF%BD`, another value; put in a path, encodeURIComponent throws
 * a bare URIError. Either way the API never sees what the caller passed: a group cancel would cancel the group
 * `A-\uFFFD` (real tasks may carry it) or answer `cancelled: 0` for a group it never looked at.
 */
const LONE = "A-\ud83d";

describe("a lone surrogate in a value the client puts in the URL", () => {
  it.each([
    ["cancelGroup's group (in ?group=)", (c: PunctualClient) => c.cancelGroup("demo", LONE), "group"],
    [
      "listGroupTasks' group",
      (c: PunctualClient) => c.listGroupTasks({ topic: "demo", group: LONE }),
      "group",
    ],
    [
      "listGroupTasks' subscriber",
      (c: PunctualClient) => c.listGroupTasks({ topic: "demo", group: "A-1", subscriber: LONE }),
      "subscriber",
    ],
    ["getTask's id (in the path)", (c: PunctualClient) => c.getTask(`demo.${LONE}`), "task_id"],
    [
      "cancelGroup's topic (in the path)",
      (c: PunctualClient) => c.cancelGroup(`demo${LONE}`, "A-1"),
      "topic",
    ],
  ])(
    "%s: refused as a 400 validation_failed naming it, nothing sent, not sent as another value",
    async (_what, call, path) => {
      // Prepare: no answer scripted, so any request fails the test
      const { fetch, seen } = scriptedFetch();
      const client = new PunctualClient({ apiUrl: "http://127.0.0.1:3000", fetch, sleep: async () => {} });

      // Act
      const outcome = call(client);

      // Assess
      await expect(outcome).rejects.toMatchObject({
        code: "validation_failed",
        status: 400,
        issues: [{ path, message: expect.stringMatching(/well-formed Unicode/) }],
      });
      expect(seen).toEqual([]);
    },
  );
});
