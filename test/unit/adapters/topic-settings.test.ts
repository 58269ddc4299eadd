import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AppConfigDataClient } from "@aws-sdk/client-appconfigdata";
import { describe, expect, it } from "vitest";
import { startAppConfigEmulator } from "#local/aws/appconfig-emulator.js";
import {
  appConfigSettingsFetch,
  LastGoodTopicSettings,
  SETTINGS_MAX_AGE_SECONDS,
  SETTINGS_POLL_INTERVAL_SECONDS,
  SETTINGS_RETRY_AFTER_MS,
  type SettingsFetch,
  settingsPropagationSeconds,
} from "#shared/adapters/topic-settings.js";
import { loadEnvironmentConfig } from "#shared/config/index.js";
import { startAppConfigSessions } from "../../support/appconfig-sessions.js";
import { memoryLogger } from "../../support/logger.js";

const deployed = loadEnvironmentConfig("local");
const doc = (maxAttempts: number) => JSON.stringify({ topics: { demo: { maxAttempts } } });

/** A fetch that answers whatever the spec last put in it (a string, undefined, or an error to throw). */
function scriptedFetch(): SettingsFetch & { answer: string | undefined | Error; calls: number } {
  const fetch = Object.assign(
    async () => {
      fetch.calls++;
      if (fetch.answer instanceof Error) throw fetch.answer;
      return fetch.answer;
    },
    { answer: undefined as string | undefined | Error, calls: 0 },
  );
  return fetch;
}

describe("LastGoodTopicSettings", () => {
  it("starts from the deployed settings when nothing is deployed yet", async () => {
    // Prepare
    const fetch = scriptedFetch();
    const settings = new LastGoodTopicSettings(deployed, fetch, memoryLogger());

    // Act
    const config = await settings.current();

    // Assess
    expect(config).toBe(deployed);
  });

  // An empty answer (nothing deployed yet: a new stack's environment before its first rollout step reaches this
  // session) is not cached by Powertools, so the next invocation polled the same session at once, which AWS refuses
  // sooner than the session's 15 s ("Request too early", BadRequestException): a failed call and a misleading
  // "unavailable" warning per such pair of invocations.
  it("after an answer with no document, polls again only once the pause is over", async () => {
    // Prepare
    let nowMs = 0;
    const fetch = scriptedFetch();
    const settings = new LastGoodTopicSettings(deployed, fetch, memoryLogger(), { now: () => nowMs });
    await settings.current();

    // Act
    nowMs += 1_000;
    const soonAfter = await settings.current();
    const callsSoonAfter = fetch.calls;
    fetch.answer = doc(2);
    nowMs += SETTINGS_RETRY_AFTER_MS;
    const later = await settings.current();

    // Assess
    expect(soonAfter).toBe(deployed);
    expect(callsSoonAfter).toBe(1);
    expect(later.resolvedTopics.demo?.maxAttempts).toBe(2);
  });

  it("applies a valid document and logs it once", async () => {
    // Prepare
    const fetch = scriptedFetch();
    const logger = memoryLogger();
    const settings = new LastGoodTopicSettings(deployed, fetch, logger);
    fetch.answer = doc(2);

    // Act
    const first = await settings.current();
    const second = await settings.current();

    // Assess
    expect(first.resolvedTopics.demo?.maxAttempts).toBe(2);
    expect(second).toBe(first);
    expect(logger.entries.filter((e) => e.message === "topic settings applied")).toHaveLength(1);
  });

  it("keeps the last good settings on an invalid document and says why, once", async () => {
    // Prepare
    const fetch = scriptedFetch();
    const logger = memoryLogger();
    const settings = new LastGoodTopicSettings(deployed, fetch, logger);
    fetch.answer = doc(2);
    await settings.current();
    fetch.answer = doc(0);

    // Act
    const afterInvalid = await settings.current();
    await settings.current();

    // Assess
    expect(afterInvalid.resolvedTopics.demo?.maxAttempts).toBe(2);
    const warnings = logger.entries.filter((e) => e.level === "warn");
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.message).toContain("refused");
    expect(JSON.stringify(warnings[0]?.extra)).toContain('field \\"maxAttempts\\"');
  });

  it("keeps the deployed settings at cold start when the first document is invalid", async () => {
    const fetch = scriptedFetch();
    fetch.answer = "not json";
    const settings = new LastGoodTopicSettings(deployed, fetch, memoryLogger());

    expect(await settings.current()).toBe(deployed);
  });

  it("keeps the last good settings while AppConfig is unavailable, then picks up the next document", async () => {
    // Prepare
    let nowMs = 0;
    const fetch = scriptedFetch();
    const logger = memoryLogger();
    const settings = new LastGoodTopicSettings(deployed, fetch, logger, { now: () => nowMs });
    fetch.answer = doc(2);
    await settings.current();

    // Act
    fetch.answer = new Error("ThrottlingException");
    const during = await settings.current();
    fetch.answer = doc(1);
    nowMs += SETTINGS_RETRY_AFTER_MS;
    const after = await settings.current();

    // Assess
    expect(during.resolvedTopics.demo?.maxAttempts).toBe(2);
    expect(after.resolvedTopics.demo?.maxAttempts).toBe(1);
    expect(logger.entries.some((e) => e.level === "warn" && e.message.includes("unavailable"))).toBe(true);
  });

  // A poll that fails (throttled, a 5xx, access denied) answers fast, but after the SDK's retries: each one waited
  // for by the invocation that asked. Polled again by the very next invocation, an AppConfig outage added those
  // retries to every add and every deliver batch, and each container sent AppConfig a new session and poll per
  // invocation (AWS holds a session to one poll per 15 s at least), as a poll that does not answer no longer does.
  it("after a failed poll, the next invocations use the last good settings without polling until the pause is over", async () => {
    // Prepare
    let nowMs = 0;
    const fetch = scriptedFetch();
    const timing = { now: () => nowMs };
    const settings = new LastGoodTopicSettings(deployed, fetch, memoryLogger(), timing);
    fetch.answer = doc(2);
    await settings.current();
    fetch.answer = new Error("ThrottlingException: Rate exceeded");
    await settings.current();
    const callsAfterFailure = fetch.calls;

    // Act
    nowMs += 1_000;
    const soonAfter = await settings.current();
    const callsSoonAfter = fetch.calls;
    fetch.answer = doc(1);
    nowMs += SETTINGS_RETRY_AFTER_MS;
    const later = await settings.current();

    // Assess
    expect(soonAfter.resolvedTopics.demo?.maxAttempts).toBe(2);
    expect(callsSoonAfter).toBe(callsAfterFailure);
    expect(later.resolvedTopics.demo?.maxAttempts).toBe(1);
  });

  it("concurrent callers share one fetch", async () => {
    // Prepare
    const fetch = scriptedFetch();
    fetch.answer = doc(2);
    const settings = new LastGoodTopicSettings(deployed, fetch, memoryLogger());

    // Act
    const [a, b, c] = await Promise.all([settings.current(), settings.current(), settings.current()]);

    // Assess
    expect(fetch.calls).toBe(1);
    expect(a).toBe(b);
    expect(b).toBe(c);
    expect(a.resolvedTopics.demo?.maxAttempts).toBe(2);
  });

  // The SDK sets no request timeout: a poll whose answer is lost held every invocation that reads the settings
  // (each add, each deliver batch) until its Lambda timed out, though last good settings were at hand.
  it("answers the last good settings when a poll does not answer, and polls again once the pause is over", async () => {
    // Prepare
    let nowMs = 0;
    let answer: Promise<string | undefined> = Promise.resolve(doc(2));
    let calls = 0;
    const fetch: SettingsFetch = () => {
      calls++;
      return answer;
    };
    const timing = { waitMs: 20, firstWaitMs: 20, now: () => nowMs };
    const settings = new LastGoodTopicSettings(deployed, fetch, memoryLogger(), timing);
    await settings.current();
    answer = new Promise(() => {});

    // Act
    const during = await settings.current();
    nowMs += 1_000;
    const soonAfter = await settings.current();
    const callsBeforeRetry = calls;
    answer = Promise.resolve(doc(1));
    nowMs += SETTINGS_RETRY_AFTER_MS;
    const later = await settings.current();

    // Assess
    expect(during.resolvedTopics.demo?.maxAttempts).toBe(2);
    expect(soonAfter.resolvedTopics.demo?.maxAttempts).toBe(2);
    expect(callsBeforeRetry).toBe(2);
    expect(later.resolvedTopics.demo?.maxAttempts).toBe(1);
  });

  it("waits longer for the first document than for a later one, the deployed settings being no recent copy", async () => {
    // Prepare
    const slow = (text: string) => new Promise<string>((resolve) => setTimeout(() => resolve(text), 60));
    let answer = slow(doc(2));
    const fetch: SettingsFetch = () => answer;
    const timing = { waitMs: 20, firstWaitMs: 1_000, retryAfterMs: 0 };
    const settings = new LastGoodTopicSettings(deployed, fetch, memoryLogger(), timing);

    // Act
    const first = await settings.current();
    answer = slow(doc(1));
    const second = await settings.current();

    // Assess
    expect(first.resolvedTopics.demo?.maxAttempts).toBe(2);
    expect(second.resolvedTopics.demo?.maxAttempts).toBe(2);
  });

  it("a valid document after an invalid one is applied", async () => {
    const fetch = scriptedFetch();
    const settings = new LastGoodTopicSettings(deployed, fetch, memoryLogger());
    fetch.answer = doc(50);
    await settings.current();
    fetch.answer = doc(1);

    expect((await settings.current()).resolvedTopics.demo?.maxAttempts).toBe(1);
  });
});

describe("settingsPropagationSeconds", () => {
  it("is the AppConfig rollout plus the 45 s cache on AWS, the local cache alone on the local cloud", () => {
    const prod = loadEnvironmentConfig("prod");

    expect(settingsPropagationSeconds(prod, {})).toBe(2 * 60 + 45 + 1);
    expect(settingsPropagationSeconds(prod, { PUNCTUAL_SETTINGS_MAX_AGE_SECONDS: "1" })).toBe(166);
    expect(settingsPropagationSeconds(deployed, { PUNCTUAL_SETTINGS_MAX_AGE_SECONDS: "1" })).toBe(2);
  });
});

describe("appConfigSettingsFetch (Powertools over AppConfig Data)", () => {
  // AWS holds a session to RequiredMinimumPollIntervalInSeconds (60 s when not given) and refuses a sooner poll
  // with "Request too early": the port polls every SETTINGS_MAX_AGE_SECONDS (45 s), so it must ask for less.
  it("starts its session with a poll interval AWS accepts and no longer than the cache's max age", async () => {
    // Prepare
    const dir = await mkdtemp(join(tmpdir(), "punctual-settings-fetch-"));
    const ids = { application: "app", environment: "env", profile: "profile" };
    const emulator = await startAppConfigEmulator({
      host: "127.0.0.1",
      settingsFile: join(dir, "settings.json"),
      initialContent: doc(3),
      ids,
      log: () => {},
      fastRefresh: true,
    });
    emulator.useValidator(async () => undefined);
    const client = new AppConfigDataClient({
      region: "us-east-1",
      endpoint: emulator.url,
      credentials: { accessKeyId: "local", secretAccessKey: "local" },
    });
    const route = { applicationId: ids.application, environmentId: ids.environment, profileId: ids.profile };
    const fetch = appConfigSettingsFetch(route, 0.25, client);
    try {
      // Act: two polls, the second once the cache has expired
      const first = await fetch();
      await new Promise((resolve) => setTimeout(resolve, 400));
      const second = await fetch();

      // Assert
      expect(first).toBe(doc(3));
      expect(second).toBe(doc(3));
      expect(SETTINGS_POLL_INTERVAL_SECONDS).toBeGreaterThanOrEqual(15);
      expect(SETTINGS_POLL_INTERVAL_SECONDS).toBeLessThanOrEqual(SETTINGS_MAX_AGE_SECONDS);
    } finally {
      client.destroy();
      await emulator.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });

  // AWS: "Each configuration token is only valid for one call to GetLatestConfiguration"
  // (https://docs.aws.amazon.com/appconfig/2021-11-11/APIReference/API_appconfigdata_GetLatestConfiguration.html).
  // Powertools keeps a token whose call failed, so a poll whose answer was lost (the token spent on AWS's side,
  // the SDK's retry refused as a reuse) left the session on a spent token: every later poll failed, and the warm
  // function ran on stale settings until it was recycled (up to the token's 24 hours).
  it("a poll whose answer was lost does not strand the function on a spent token", async () => {
    // Prepare
    const aws = await startAppConfigSessions(doc(3));
    const client = new AppConfigDataClient({
      region: "us-east-1",
      endpoint: aws.url,
      credentials: { accessKeyId: "local", secretAccessKey: "local" },
    });
    const route = { applicationId: "app", environmentId: "env", profileId: "profile" };
    // No pause after the failed poll (its own test above): this one is about the session the next poll uses.
    const settings = new LastGoodTopicSettings(
      deployed,
      appConfigSettingsFetch(route, 0, client),
      memoryLogger(),
      { retryAfterMs: 0 },
    );
    try {
      const before = await settings.current();
      aws.loseNextAnswer();
      const during = await settings.current();

      // Act: a new document is deployed after the lost answer
      aws.document = doc(2);
      const after = await settings.current();

      // Assess
      expect(before.resolvedTopics.demo?.maxAttempts).toBe(3);
      expect(during.resolvedTopics.demo?.maxAttempts).toBe(3);
      expect(after.resolvedTopics.demo?.maxAttempts).toBe(2);
    } finally {
      client.destroy();
      await aws.stop();
    }
  });

  it("a poll given up on for want of an answer is followed by one on a new session", async () => {
    // Prepare
    const aws = await startAppConfigSessions(doc(3));
    const client = new AppConfigDataClient({
      region: "us-east-1",
      endpoint: aws.url,
      credentials: { accessKeyId: "local", secretAccessKey: "local" },
    });
    const route = { applicationId: "app", environmentId: "env", profileId: "profile" };
    const fetch = appConfigSettingsFetch(route, 0, client);
    const timing = { waitMs: 100, firstWaitMs: 100, retryAfterMs: 0 };
    const settings = new LastGoodTopicSettings(deployed, fetch, memoryLogger(), timing);
    try {
      await settings.current();
      aws.holdNextAnswer();
      const during = await settings.current();

      // Act
      aws.document = doc(2);
      const after = await settings.current();

      // Assess
      expect(during.resolvedTopics.demo?.maxAttempts).toBe(3);
      expect(after.resolvedTopics.demo?.maxAttempts).toBe(2);
      expect(aws.sessions).toBe(2);
    } finally {
      client.destroy();
      await aws.stop();
    }
  });
});

describe("appConfigSettingsFetch: a given-up poll that answers late", () => {
  // Review of h-topics/h-settings2: a warm function must never stop polling, whichever way a given-up poll ends.
  it("keeps polling and picks up the next document whether the late answer comes before or after the next poll", async () => {
    // Prepare
    const aws = await startAppConfigSessions(doc(3));
    const client = new AppConfigDataClient({
      region: "us-east-1",
      endpoint: aws.url,
      credentials: { accessKeyId: "local", secretAccessKey: "local" },
    });
    const route = { applicationId: "app", environmentId: "env", profileId: "profile" };
    const fetch = appConfigSettingsFetch(route, 0, client);
    const settings = new LastGoodTopicSettings(deployed, fetch, memoryLogger(), {
      waitMs: 100,
      firstWaitMs: 100,
      retryAfterMs: 0,
    });
    const maxAttempts = async () => (await settings.current()).resolvedTopics.demo?.maxAttempts;
    try {
      await settings.current();

      // Act: a poll given up on answers late before the next poll (its session kept) ...
      aws.holdNextAnswer();
      const givenUp = await maxAttempts();
      aws.document = doc(2);
      aws.answerHeld();
      await new Promise((resolve) => setTimeout(resolve, 50));
      const afterLateAnswer = await maxAttempts();
      // ... and another answers late after the next poll (on a new session) answered
      aws.holdNextAnswer();
      await maxAttempts();
      aws.document = doc(1);
      const onNewSession = await maxAttempts();
      aws.answerHeld();
      await new Promise((resolve) => setTimeout(resolve, 50));
      aws.document = doc(3);
      const later = await maxAttempts();

      // Assess
      expect(givenUp).toBe(3);
      expect(afterLateAnswer).toBe(2);
      expect(onNewSession).toBe(1);
      expect(later).toBe(3);
      expect(aws.sessions).toBe(2);
    } finally {
      client.destroy();
      await aws.stop();
    }
  });
});
