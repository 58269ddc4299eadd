import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ConsoleBrowser } from "./support/browser.js";
import {
  deadLetteredTaskAnswer,
  type FakeApiConsole,
  startFakeApiConsole,
} from "./support/fake-api-console.js";

/**
 * `punctual console` in a real headless Chromium against an API slower than the page's 3 s refresh (a cold
 * start, a far region, a VPN): the page must still show what the API answered, and must not stack a new call
 * per refresh on the unfinished ones. A fake API on loopback; no local cloud.
 */
const TOPICS_DELAY_MS = 4_500;

const topicView = (topic: string) => ({
  topic,
  paused: false,
  backlog: { waiting: 0, in_flight: 0 },
  oldest_age_seconds: null,
  dead_letter_count: topic === "slow-topic" ? 1 : 0,
});
const DEAD = deadLetteredTaskAnswer("slow-topic.dead-1", "slow-topic");

let fake: FakeApiConsole;
let consoleUrl: string;
let b: ConsoleBrowser;
const topicsCalls = { started: 0, open: 0, mostOpen: 0 };

beforeAll(async () => {
  fake = await startFakeApiConsole((req, res) => {
    req.resume();
    const json = (body: unknown) =>
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(body));
    const url = new URL(req.url ?? "/", "http://api");
    if (url.pathname === "/v1/tasks" && url.searchParams.get("status") === "failed") {
      // The first topic's dead letter at once; the other topic's (none) slowly.
      if (url.searchParams.get("topic") === "slow-topic") return json({ tasks: [DEAD], next_cursor: null });
      setTimeout(() => json({ tasks: [], next_cursor: null }), TOPICS_DELAY_MS);
      return;
    }
    if (url.pathname !== "/v1/topics")
      return json({ tasks: [], schedules: [], destinations: [], next_cursor: null });
    topicsCalls.started++;
    topicsCalls.mostOpen = Math.max(topicsCalls.mostOpen, ++topicsCalls.open);
    setTimeout(() => {
      topicsCalls.open--;
      json({ topics: ["slow-topic", "other-topic"].map(topicView) });
    }, TOPICS_DELAY_MS);
  });
  consoleUrl = fake.consoleUrl;
  b = fake.browser;
});

afterAll(async () => {
  await fake?.stop();
});

describe("the console against an API slower than its refresh", () => {
  it("shows the slow answer, with one call at a time", async () => {
    // Act
    await b.page.goto(consoleUrl, { waitUntil: "load" });
    const shown = await b.page
      .waitForFunction(
        `document.querySelector("[data-testid=topics-panel]")?.textContent.includes("slow-topic")`,
        {
          timeout: 3 * TOPICS_DELAY_MS,
        },
      )
      .then(
        () => true,
        () => false,
      );

    // Assess
    expect(shown).toBe(true);
    expect(topicsCalls.mostOpen).toBe(1);
  });

  it("never shows one topic's dead letters under another's name while the other's load is under way", async () => {
    // Prepare: the first topic (selected by itself) shows its dead letter.
    const panel = "[data-testid=dead-letters]";
    await b.page.waitForFunction(
      `document.querySelector(${JSON.stringify(panel)})?.textContent.includes("slow-topic.dead-1")`,
      { timeout: 3 * TOPICS_DELAY_MS },
    );

    // Act: select the other topic, whose dead letters come slowly.
    await b.page.click("[data-testid=topic-row-other-topic]");
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const meanwhile = await b.page.evaluate(`document.querySelector(${JSON.stringify(panel)}).textContent`);

    // Assess
    expect(meanwhile).toContain("Dead letters of other-topic");
    expect(meanwhile).not.toContain("slow-topic.dead-1");
  });

  it("forgets the dead letters selected on one topic when another is selected", async () => {
    // Prepare: back on the first topic, its dead letter selected.
    await b.page.click("[data-testid=topic-row-slow-topic]");
    await b.page.waitForSelector("[data-testid=dead-letter-select]", { timeout: 3 * TOPICS_DELAY_MS });
    await b.page.click("[data-testid=dead-letter-select]");
    const before = await b.page.evaluate(
      `document.querySelector("[data-testid=replay-selected]").textContent`,
    );

    // Act
    await b.page.click("[data-testid=topic-row-other-topic]");
    await new Promise((resolve) => setTimeout(resolve, 500));
    const after = await b.page.evaluate(
      `(({ disabled, textContent }) => ({ disabled, textContent }))(document.querySelector("[data-testid=replay-selected]"))`,
    );

    // Assess: "Replay selected" would replay the other topic's task from this topic's panel.
    expect(before).toBe("Replay selected (1)");
    expect(after).toEqual({ disabled: true, textContent: "Replay selected (0)" });
  });
});
