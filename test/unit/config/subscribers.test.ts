import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "#shared/config/index.js";
import { applyRuntimeSettings } from "#shared/config/runtime-settings.js";
import type { EnvironmentConfigInput, TopicOverrides } from "#shared/config/schema.js";

/** The problems a config with one topic `orders` of these settings is refused for (none: it parses). */
function problemsOf(orders: TopicOverrides, extra: Partial<EnvironmentConfigInput> = {}): string[] {
  try {
    parseConfig({
      name: "t",
      system: { allowedCallbackHosts: ["*.example.com"] },
      topics: { orders },
      ...extra,
    });
    return [];
  } catch (error) {
    if (error instanceof ConfigError) return [...error.problems];
    throw error;
  }
}

const sub = (id: string, url = `https://${id}.example.com/hook`) => ({ id, url });

describe("topic subscribers (fan-out) in the configuration", () => {
  it("accepts up to ten subscribers with unique slugs and allowed https URLs", () => {
    const subscribers = Array.from({ length: 10 }, (_, i) => sub(`s${i}`));
    const config = parseConfig({
      name: "t",
      system: { allowedCallbackHosts: ["*.example.com"] },
      topics: { orders: { subscribers } },
    });
    expect(config.resolvedTopics.orders?.subscribers).toEqual(subscribers);
  });

  it("refuses a subscriber id declared twice", () => {
    expect(problemsOf({ subscribers: [sub("billing"), sub("audit"), sub("billing")] })).toEqual([
      'topic "orders", field "subscribers.2.id": "billing" is declared twice',
    ]);
  });

  it("refuses a URL that is not a URL, and an id that is not a slug", () => {
    expect(problemsOf({ subscribers: [{ id: "Billing!", url: "not a url" }] })).toEqual([
      expect.stringMatching(/^topic "orders", field "subscribers.0.id": a subscriber id is a slug/),
      expect.stringMatching(/^topic "orders", field "subscribers.0.url": /),
    ]);
  });

  it("refuses a URL outside the topic's allow-list, plain http, credentials and private hosts", () => {
    const problems = problemsOf({
      subscribers: [
        sub("a", "https://evil.test/hook"),
        sub("b", "http://b.example.com/hook"),
        sub("c", "https://user:pw@c.example.com/"),
        sub("d", "https://169.254.169.254/latest"),
      ],
    });
    expect(problems).toEqual([
      'topic "orders", field "subscribers.0.url": host "evil.test" is not in the topic\'s allowed callback hosts',
      'topic "orders", field "subscribers.1.url": scheme must be https',
      'topic "orders", field "subscribers.2.url": credentials in the URL are not allowed',
      'topic "orders", field "subscribers.3.url": host "169.254.169.254" is not in the topic\'s allowed callback hosts',
    ]);
  });

  it("refuses a URL with a lone surrogate or a C1 control character, as a default callback is", () => {
    // The URL parser writes a lone surrogate as U+FFFD (%EF%BF%BD) and percent-encodes an invisible C1 control: the
    // delivery tasks would keep the URL as written (DynamoDB refuses or alters a lone surrogate; GET shows it) while
    // another is called
    const problems = problemsOf({
      subscribers: [sub("a", "https://a.example.com/\u0085hook"), sub("b", "https://b.example.com/\ud800")],
    });
    expect(problems).toEqual([
      'topic "orders", field "subscribers.0.url": must not contain control characters (U+0085 at 22)',
      'topic "orders", field "subscribers.1.url": must be well-formed Unicode: a lone surrogate (U+D800 at 22) has no UTF-8 form',
    ]);
  });

  it("refuses more than ten subscribers, and an empty list", () => {
    const eleven = Array.from({ length: 11 }, (_, i) => sub(`s${i}`));
    expect(problemsOf({ subscribers: eleven })).toEqual([
      'topic "orders", field "subscribers": at most 10 subscribers per topic (each one is a task per task added)',
    ]);
    expect(problemsOf({ subscribers: [] })).toEqual([
      'topic "orders", field "subscribers": declare at least one subscriber, or leave `subscribers` out',
    ]);
  });

  it("refuses a default callback beside subscribers, and subscribers in the system defaults", () => {
    expect(problemsOf({ subscribers: [sub("a")], defaultCallbackUrl: "https://x.example.com/" })).toEqual([
      'topic "orders", field "defaultCallbackUrl": a fan-out topic delivers to its subscribers; remove the default callback',
    ]);
    expect(
      problemsOf({}, { system: { allowedCallbackHosts: ["*.example.com"], subscribers: [sub("a")] } }),
    ).toEqual([
      'field "system.subscribers": subscribers belong to one topic, not to the defaults of every topic',
    ]);
  });

  it("checks a runtime settings document the same way: a subscriber outside the allow-list is refused", () => {
    const deployed = parseConfig({
      name: "t",
      system: { allowedCallbackHosts: ["*.example.com"] },
      topics: { orders: { subscribers: [sub("a")] } },
    });
    const refused = applyRuntimeSettings(deployed, {
      topics: { orders: { subscribers: [sub("a"), sub("b", "https://elsewhere.test/")] } },
    });
    const accepted = applyRuntimeSettings(deployed, {
      topics: { orders: { subscribers: [sub("a"), sub("b")] } },
    });
    expect(refused).toEqual({
      ok: false,
      problems: [
        'topic "orders", field "subscribers.1.url": host "elsewhere.test" is not in the topic\'s allowed callback hosts',
      ],
    });
    expect(accepted.ok && accepted.config.resolvedTopics.orders?.subscribers?.map((s) => s.id)).toEqual([
      "a",
      "b",
    ]);
  });
  it("a runtime settings document removes subscribers with null: the topic is plain again (docs/API.md: Changing subscribers)", () => {
    const deployed = parseConfig({
      name: "t",
      system: { allowedCallbackHosts: ["*.example.com"] },
      topics: { orders: { subscribers: [sub("a")] } },
    });
    const removed = applyRuntimeSettings(deployed, { topics: { orders: { subscribers: null } } });
    expect(removed.ok).toBe(true);
    expect(removed.ok && removed.config.resolvedTopics.orders?.subscribers).toBeUndefined();
  });
});
