import { afterEach, describe, expect, it, vi } from "vitest";
import { ENVIRONMENTS } from "#shared/config/environments/index.js";
import { ConfigError, loadEnvironmentConfig, parseConfig } from "#shared/config/index.js";
import { MAX_LISTED_TOPICS } from "#shared/domain/view-bounds.js";

describe("environment configuration", () => {
  it.each(Object.keys(ENVIRONMENTS))("environment %s validates", (name) => {
    // Act
    const config = loadEnvironmentConfig(name);

    // Assess
    expect(config.name).toBe(name);
    expect(Object.keys(config.resolvedTopics).length).toBeGreaterThan(0);
  });

  it("refuses more topics than GET /v1/topics may list (MAX_LISTED_TOPICS), the local environment's overrides included", () => {
    // Prepare: the client, the CLI and the console refuse a topic list longer than MAX_LISTED_TOPICS as a broken
    // API's, so no environment may hold more (the local one takes any number through its overrides).
    const topics = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`t${i}`, {}]));
    const tooMany = MAX_LISTED_TOPICS + 1;

    // Act / Assess
    expect(() => parseConfig({ name: "t", topics: topics(tooMany) })).toThrow(
      `topics: at most ${MAX_LISTED_TOPICS} topics (${tooMany} declared)`,
    );
    expect(() => loadEnvironmentConfig("local", JSON.stringify({ topics: topics(tooMany) }))).toThrow(
      `at most ${MAX_LISTED_TOPICS} topics`,
    );
    expect(
      Object.keys(parseConfig({ name: "t", topics: topics(MAX_LISTED_TOPICS) }).resolvedTopics),
    ).toHaveLength(MAX_LISTED_TOPICS);
  });

  it("local declares the demo topic the README and the end-to-end tests rely on", () => {
    const demo = loadEnvironmentConfig("local").resolvedTopics.demo;

    expect(demo).toMatchObject({
      deliverBy: "order_id",
      maxAttempts: 3,
      backoff: { initialSeconds: 1, maxSeconds: 2 },
      callbackTimeoutSeconds: 5,
      allowHttpCallbacks: true,
    });
    expect(demo?.allowedCallbackHosts).toEqual(expect.arrayContaining(["127.0.0.1", "localhost"]));
    expect(loadEnvironmentConfig("local").api.auth.type).toBe("none");
  });

  it("topic settings override the system section field by field, nested sections included", () => {
    // Prepare
    const config = parseConfig({
      name: "t",
      system: { maxAttempts: 4, backoff: { initialSeconds: 2, maxSeconds: 60 } },
      topics: { a: {}, b: { maxAttempts: 9, backoff: { maxSeconds: 30 } } },
    });

    // Assess
    expect(config.resolvedTopics.a?.maxAttempts).toBe(4);
    expect(config.resolvedTopics.a?.backoff).toMatchObject({ initialSeconds: 2, maxSeconds: 60 });
    expect(config.resolvedTopics.b?.maxAttempts).toBe(9);
    expect(config.resolvedTopics.b?.backoff).toMatchObject({
      initialSeconds: 2,
      maxSeconds: 30,
      multiplier: 2,
    });
    expect(config.resolvedTopics.b?.retentionDays).toBe(3);
  });

  it("defaults: IAM auth, 300 s horizon, 120 s lead, 3-day retention, 365-day max delay, 256 KiB payloads", () => {
    const config = parseConfig({ name: "t", topics: { a: {} } });

    expect(config.api.auth.type).toBe("iam");
    expect(config.timer).toMatchObject({ horizonSeconds: 300, leadSeconds: 120 });
    expect(config.resolvedTopics.a).toMatchObject({
      retentionDays: 3,
      maxDelaySeconds: 365 * 86_400,
      maxPayloadBytes: 256 * 1024,
      allowHttpCallbacks: false,
    });
  });

  it("errors name the environment, the topic and the field", () => {
    const act = () =>
      parseConfig({
        name: "prod",
        topics: { orders: { maxAttempts: 0 }, ok: { callbackTimeoutSeconds: 5 } },
      });

    expect(act).toThrow(ConfigError);
    expect(act).toThrow(/environment "prod"/);
    expect(act).toThrow(/topic "orders", field "maxAttempts"/);
  });

  it("reports every problem at once, including merged-topic rules", () => {
    try {
      parseConfig({
        name: "x",
        topics: { Bad_Name: {}, slow: { backoff: { initialSeconds: 10, maxSeconds: 1 } } },
      });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).problems.join("\n")).toMatch(/Bad_Name/);
    }
    expect(() =>
      parseConfig({ name: "x", topics: { slow: { backoff: { initialSeconds: 10, maxSeconds: 1 } } } }),
    ).toThrow(/topic "slow", field "backoff.maxSeconds"/);
  });

  it("keeps the timer horizon below SQS's 900 s delay limit and the lead within the horizon", () => {
    expect(() => parseConfig({ name: "x", timer: { horizonSeconds: 900 }, topics: { a: {} } })).toThrow(
      /timer.horizonSeconds/,
    );
    expect(() =>
      parseConfig({ name: "x", timer: { horizonSeconds: 60, leadSeconds: 120 }, topics: { a: {} } }),
    ).toThrow(/timer.leadSeconds/);
  });

  it("refuses unknown fields, unknown environments and environments without topics", () => {
    expect(() => parseConfig({ name: "x", topics: { a: { maxAtempts: 3 } as never } })).toThrow(/topic "a"/);
    expect(() => loadEnvironmentConfig("nope")).toThrow(/unknown environment; known: local, dev/);
    expect(() => loadEnvironmentConfig(undefined)).toThrow(/PUNCTUAL_ENV/);
    expect(() => parseConfig({ name: "x", topics: {} })).toThrow(/at least one topic/);
  });

  it("refuses a default callback the topic's own callback policy would refuse at every add", () => {
    expect(() =>
      parseConfig({
        name: "x",
        topics: {
          a: {
            allowedCallbackHosts: ["hooks.example.com"],
            defaultCallbackUrl: "https://other.example.com/",
          },
        },
      }),
    ).toThrow(
      /topic "a", field "defaultCallbackUrl": host "other.example.com" is not in the topic's allowed/,
    );
    expect(() =>
      parseConfig({ name: "x", topics: { a: { defaultCallbackUrl: "https://user:pw@hooks.example.com/" } } }),
    ).toThrow(/topic "a", field "defaultCallbackUrl": credentials in the URL/);
    expect(() =>
      parseConfig({
        name: "x",
        topics: { a: { defaultCallbackUrl: `https://hooks.example.com/${"a".repeat(2100)}` } },
      }),
    ).toThrow(/topic "a", field "defaultCallbackUrl": .*2048/);
    expect(
      parseConfig({ name: "x", topics: { a: { defaultCallbackUrl: "https://hooks.example.com/x" } } })
        .resolvedTopics.a?.defaultCallbackUrl,
    ).toBe("https://hooks.example.com/x");
  });

  it("refuses a service base URL that no topic's callback policy accepts (every seed-style add would be a 400)", () => {
    const withService = (url: string, topics: Record<string, object> = { a: {} }) =>
      parseConfig({ name: "x", topics, services: { billing: url } });

    expect(() => withService("http://billing.example.com/api")).toThrow(
      /field "services.billing": no topic's callback policy accepts it \(topic "a": scheme must be https\)/,
    );
    expect(() => withService("https://user:pw@billing.example.com/")).toThrow(
      /field "services.billing": .*credentials in the URL/,
    );
    expect(() => withService("https://10.0.0.7/api")).toThrow(/field "services.billing": .*private/);
    expect(() => withService("ftp://billing.example.com/")).toThrow(/field "services.billing"/);
    expect(() => withService(`https://billing.example.com/${"a".repeat(2100)}`, { a: {} })).toThrow(
      /field "services.billing": .*2048/,
    );
    // What resolveCallback refuses every add naming the service for (`content.sn`: the service's base URL …)
    expect(() => withService("https://billing.example.com/\u0085api")).toThrow(
      /field "services.billing": must not contain control characters \(U\+0085 at 28\)/,
    );
    expect(() => withService("https://billing.example.com/\ud800")).toThrow(
      /field "services.billing": must be well-formed Unicode/,
    );
    // One topic accepting it is enough: the others may narrow their allow-lists on purpose.
    const config = withService("https://billing.example.com/api", {
      a: { allowedCallbackHosts: ["hooks.example.com"] },
      b: {},
    });
    expect(config.services.billing).toBe("https://billing.example.com/api");
    expect(() =>
      withService("https://billing.example.com/api", { a: { allowedCallbackHosts: ["hooks.example.com"] } }),
    ).toThrow(
      /field "services.billing": .*topic "a": host "billing.example.com" is not in the topic's allowed/,
    );
  });

  it("refuses an empty allow-list: it would refuse every callback, not allow any (use '*' for any public host)", () => {
    expect(() => parseConfig({ name: "x", topics: { a: { allowedCallbackHosts: [] } } })).toThrow(
      /topic "a", field "allowedCallbackHosts": .*'\*'/,
    );
    expect(() => parseConfig({ name: "x", system: { allowedCallbackHosts: [] }, topics: { a: {} } })).toThrow(
      /field "system.allowedCallbackHosts"/,
    );
  });

  it("refuses allow-list entries that are not host patterns", () => {
    expect(() =>
      parseConfig({ name: "x", topics: { a: { allowedCallbackHosts: ["http://evil.example/"] } } }),
    ).toThrow(/topic "a", field "allowedCallbackHosts.0"/);
  });
});

describe("local overrides", () => {
  it("PUNCTUAL_CONFIG_OVERRIDES tightens the local environment, deep-merged", () => {
    const config = loadEnvironmentConfig(
      "local",
      JSON.stringify({ timer: { horizonSeconds: 3, leadSeconds: 2 }, topics: { demo: { maxAttempts: 2 } } }),
    );

    expect(config.timer).toMatchObject({ horizonSeconds: 3, leadSeconds: 2 });
    expect(config.resolvedTopics.demo).toMatchObject({ maxAttempts: 2, deliverBy: "order_id" });
  });

  it("is ignored by deployed environments and refuses invalid JSON", () => {
    expect(
      loadEnvironmentConfig("prod", JSON.stringify({ timer: { horizonSeconds: 3 } })).timer.horizonSeconds,
    ).toBe(300);
    expect(() => loadEnvironmentConfig("local", "{nope")).toThrow(/PUNCTUAL_CONFIG_OVERRIDES/);
  });

  it("refuses a backoff that could push a visibility change past 12 hours from receipt, naming the topic and field", () => {
    // Prepare
    const input = {
      name: "t",
      system: { backoff: { maxSeconds: 43_200 } },
      topics: { a: {}, b: { backoff: { initialSeconds: 42_301, maxSeconds: 42_301 } } },
    };

    // Act
    const problems = (() => {
      try {
        parseConfig(input);
        return [];
      } catch (error) {
        if (!(error instanceof ConfigError)) throw error;
        return [...error.problems];
      }
    })();

    // Assess
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^field "system\.backoff\.maxSeconds": must be at most 42300 s: SQS refuses/),
        expect.stringMatching(/^topic "b", field "backoff\.initialSeconds": must be at most 42300 s/),
      ]),
    );
    expect(() =>
      parseConfig({ name: "t", topics: { a: { backoff: { maxSeconds: 42_300 } } } }),
    ).not.toThrow();
  });
});

// --- issue 14 (breaker): protecting receivers ---
describe("receiver protection settings", () => {
  it("are off by default (no limit, no breaker) with a 3,600 s Retry-After cap and a 30 s cool-down", () => {
    const demo = loadEnvironmentConfig("dev").resolvedTopics.demo;

    expect(demo?.rateLimit).toBeUndefined();
    expect(demo?.maxConcurrencyPerHost).toBeUndefined();
    expect(demo?.circuitFailureThreshold).toBeUndefined();
    expect(demo).toMatchObject({ retryAfterCapSeconds: 3_600, circuitCooldownSeconds: 30 });
  });

  it("a topic sets them, and the system section sets them for every topic", () => {
    const config = parseConfig({
      name: "x",
      system: { circuitFailureThreshold: 5 },
      topics: { a: { rateLimit: 50, maxConcurrencyPerHost: 4, circuitCooldownSeconds: 10 }, b: {} },
    });

    expect(config.resolvedTopics.a).toMatchObject({
      rateLimit: 50,
      maxConcurrencyPerHost: 4,
      circuitFailureThreshold: 5,
      circuitCooldownSeconds: 10,
    });
    expect(config.resolvedTopics.b).toMatchObject({ circuitFailureThreshold: 5, circuitCooldownSeconds: 30 });
  });

  it.each([
    ["rateLimit", 0],
    ["rateLimit", 1_001],
    ["rateLimit", 2.5],
    ["maxConcurrencyPerHost", 0],
    ["circuitFailureThreshold", 0],
    ["circuitCooldownSeconds", 0],
    ["circuitCooldownSeconds", 42_301],
    ["retryAfterCapSeconds", 42_301],
  ])("refuses %s = %s, naming the field", (field, value) => {
    expect(() => parseConfig({ name: "x", topics: { a: { [field]: value } } })).toThrow(
      new RegExp(`topic "a", field "${field}"`),
    );
  });
});

/**
 * A deployed bundle (PUNCTUAL_BUNDLED_ENVIRONMENT, which esbuild defines: cdk/lib/bundling.ts) takes the deploy-time
 * sections as synth validated them (shared/config/schema.ts, checkedAtSynth): its functions must read exactly the
 * config the unbundled, fully validated load gives.
 */
describe("environment configuration in a deployed bundle", () => {
  afterEach(() => {
    vi.unstubAllEnvs();
    vi.resetModules();
  });

  it.each(Object.keys(ENVIRONMENTS))("environment %s loads as it does unbundled", async (name) => {
    // Prepare
    const validated = loadEnvironmentConfig(name, undefined);
    vi.stubEnv("PUNCTUAL_BUNDLED_ENVIRONMENT", name);
    vi.resetModules();
    const bundled = await import("#shared/config/index.js");

    // Act
    const config = bundled.loadEnvironmentConfig(name, undefined);

    // Assess
    expect(config).toEqual(validated);
    expect(config.eventSources).toEqual(validated.eventSources);
  });
});
