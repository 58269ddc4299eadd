import type { APIGatewayProxyEventV2 } from "aws-lambda";
import { describe, expect, it } from "vitest";
import {
  type ErrorBody,
  fanOutCallback,
  HttpError,
  unknownSubscriber,
  unknownTopic,
  unsupportedContentEncoding,
  unsupportedMediaType,
} from "#shared/api/errors.js";
import { headerGuard } from "#shared/api/middleware/header-guard.js";
import { parseConfig } from "#shared/config/index.js";
import { echoed, MAX_ECHOED_CHARS } from "#shared/domain/echoed.js";
import { parseExactJson } from "#shared/domain/exact-json.js";
import { addTask } from "#shared/services/add-task.js";
import { cancelGroup } from "#shared/services/cancel-group.js";
import { subscriberLane } from "#shared/services/fan-out/view.js";
import { setTopicPaused } from "#shared/services/topics.js";
import { refusal } from "../../support/refusal.js";
import { fixture } from "./fakes.js";

/**
 * Error answers that echo a caller's value (an id, a name, a key, a header) cut it to MAX_ECHOED_CHARS, so a
 * huge input is named, not reflected back in full. Each huge input is a run of `q`; the answer must show some of
 * it (it says which value it refused) and never more than 64 characters of it in one piece.
 */
const HUGE = "q".repeat(5_000);

/** The longest piece of the echoed input (`q`s, and the dots between host labels) in an error body. */
function longestEcho(body: ErrorBody): number {
  const runs = JSON.stringify(body).match(/q[q.…]*/g) ?? [];
  return Math.max(0, ...runs.map((run) => run.length));
}

function expectCut(error: HttpError): void {
  const longest = longestEcho(error.toBody());
  expect(longest).toBeGreaterThanOrEqual(20);
  expect(longest).toBeLessThanOrEqual(MAX_ECHOED_CHARS);
}

describe("echoed", () => {
  it("keeps a value of up to 64 characters as it is, and cuts a longer one to 64 ending in …", () => {
    expect(echoed("order-17")).toBe("order-17");
    expect(echoed("a".repeat(64))).toBe("a".repeat(64));
    expect(echoed("a".repeat(65))).toBe(`${"a".repeat(63)}…`);
    expect(echoed(HUGE)).toHaveLength(MAX_ECHOED_CHARS);
  });

  it("never ends on half a surrogate pair", () => {
    const cut = echoed(`${"a".repeat(62)}😀${"b".repeat(10)}`);
    expect(cut).toBe(`${"a".repeat(62)}…`);
    expect(cut.length).toBeLessThanOrEqual(MAX_ECHOED_CHARS);
  });
});

describe("error answers cut every echoed caller value to 64 characters", () => {
  it("unknown topic, unknown subscriber, fan-out callback", () => {
    expectCut(unknownTopic(HUGE, ["demo"]));
    expectCut(unknownSubscriber(HUGE, ["billing"]));
    expectCut(fanOutCallback(HUGE));
  });

  it("an unsupported content-type or content-encoding header value", () => {
    expectCut(unsupportedMediaType(`text/${HUGE}`));
    expectCut(unsupportedContentEncoding(`gzip, ${HUGE}`));
  });

  it("a header name given twice with different values", async () => {
    // Prepare
    const event = {
      headers: { [`X-${HUGE}`]: "a", [`x-${HUGE}`]: "b" },
    } as unknown as APIGatewayProxyEventV2;

    // Act
    const error = await refusal(
      (async () =>
        headerGuard().before?.({ event } as Parameters<
          NonNullable<ReturnType<typeof headerGuard>["before"]>
        >[0]))(),
    );

    // Assess
    expectCut(error);
  });

  it("an unknown field's name in the request body", async () => {
    const f = fixture();
    const error = await refusal(
      addTask(f.deps, { body: { topic: "demo", delay_seconds: 1, content: {}, [HUGE]: 1 } }),
    );
    expectCut(error);
  });

  it("a deliver_by field whose value cannot order tasks", async () => {
    const f = fixture();
    const deliverBy = "q".repeat(128);
    const error = await refusal(
      addTask(f.deps, {
        body: {
          topic: "demo",
          delay_seconds: 1,
          deliver_by: deliverBy,
          content: { [deliverBy]: { nested: true } },
          callback: { url: "https://hooks.example.com/x" },
        },
      }),
    );
    expectCut(error);
  });

  it("a duplicate key's name in the raw JSON", () => {
    const parsed = parseExactJson(`{"${HUGE}":1,"${HUGE}":2}`, 10);
    expect(parsed.ok).toBe(false);
    const issue = !parsed.ok && parsed.kind !== "syntax" ? parsed.issue : undefined;
    expect(issue?.path.length).toBeLessThanOrEqual(MAX_ECHOED_CHARS);
  });

  it("a callback host the topic does not allow", async () => {
    const f = fixture();
    const host = Array.from({ length: 4 }, () => "q".repeat(60)).join(".");
    const error = await refusal(
      addTask(f.deps, {
        body: { topic: "strict", delay_seconds: 1, content: {}, callback: { url: `https://${host}/x` } },
      }),
    );
    expectCut(error);
  });

  it("a topic in the path that does not exist (topics, group cancel)", async () => {
    const f = fixture();
    const topicDeps = { config: f.config, mappings: {}, topicSwitch: {} } as unknown as Parameters<
      typeof setTopicPaused
    >[0];
    expectCut(await refusal(setTopicPaused(topicDeps, HUGE, true)));
    expectCut(
      await refusal(
        cancelGroup(f.deps as unknown as Parameters<typeof cancelGroup>[0], { topic: HUGE, value: "g" }, {}),
      ),
    );
  });

  it("a topic that is not fan-out, named in a subscriber's lane", () => {
    const config = parseConfig({
      name: "test",
      system: { allowedCallbackHosts: ["*"] },
      topics: { demo: {} },
    });
    let error: unknown;
    try {
      subscriberLane(config, `demo${HUGE}`, "s", "g");
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(HttpError);
    expectCut(error as HttpError);
  });
});
