import { describe, expect, it } from "vitest";
import { loadEnvironmentConfig } from "#shared/config/index.js";
import {
  applyRuntimeSettings,
  applyRuntimeSettingsText,
  settingsDocumentOf,
} from "#shared/config/runtime-settings.js";

const deployed = loadEnvironmentConfig("local");

describe("runtime topic settings document", () => {
  it("the CDK's initial document applies to exactly the deployed settings", () => {
    // Act
    const result = applyRuntimeSettings(deployed, settingsDocumentOf(deployed));

    // Assess
    expect(result).toEqual({ ok: true, config: deployed });
  });

  it("lays a topic's rows over its deployed settings, nested sections field by field", () => {
    // Act
    const result = applyRuntimeSettings(deployed, {
      topics: {
        demo: {
          maxAttempts: 2,
          backoff: { initialSeconds: 2 },
          allowedCallbackHosts: ["localhost"],
          paused: true,
        },
      },
    });

    // Assess
    if (!result.ok) throw new Error(result.problems.join("; "));
    expect(result.config.resolvedTopics.demo).toEqual({
      ...deployed.resolvedTopics.demo,
      maxAttempts: 2,
      backoff: { ...deployed.resolvedTopics.demo?.backoff, initialSeconds: 2 },
      allowedCallbackHosts: ["localhost"],
      paused: true,
    });
    expect(deployed.resolvedTopics.demo?.maxAttempts).toBe(3);
  });

  it.each([
    ["a value outside the schema's range", { demo: { maxAttempts: 0 } }, 'topic "demo", field "maxAttempts"'],
    ["an unknown row", { demo: { maxAtempts: 2 } }, "maxAtempts"],
    ["a bad host pattern", { demo: { allowedCallbackHosts: ["http://x"] } }, "allowedCallbackHosts"],
    [
      "backoff cap below its start",
      { demo: { backoff: { initialSeconds: 5, maxSeconds: 2 } } },
      "backoff.maxSeconds",
    ],
    ["a topic the stack does not declare", { orders: { maxAttempts: 2 } }, "adding a topic needs a deploy"],
    ["a row that sizes infrastructure", { demo: { maxConcurrency: 50 } }, '"maxConcurrency": sizes deployed'],
    [
      "raising max attempts above the deployed",
      { demo: { maxAttempts: 4 } },
      "raising it above the deployed 3",
    ],
    ["a longer callback timeout", { demo: { callbackTimeoutSeconds: 6 } }, "callbackTimeoutSeconds"],
  ])("refuses %s and says where", (_name, topics, expected) => {
    // Act
    const result = applyRuntimeSettings(deployed, { topics });

    // Assess
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.problems.join("\n")).toContain(expected);
  });

  it.each([
    [
      "a loopback allow-list entry",
      { orders: { allowedCallbackHosts: ["127.0.0.1"] } },
      '"127.0.0.1" names a private',
    ],
    ["the metadata address", { orders: { allowedCallbackHosts: ["169.254.169.254"] } }, "169.254.169.254"],
    ["an internal name", { orders: { allowedCallbackHosts: ["*.internal"] } }, "*.internal"],
    ["plain-http callbacks", { orders: { allowHttpCallbacks: true } }, '"allowHttpCallbacks"'],
    // The callback policy reads `localhost.` as `localhost` and `.lan`, `.corp`, `.intranet` as internal: so must the guard.
    [
      "a fully qualified loopback name",
      { orders: { allowedCallbackHosts: ["localhost."] } },
      '"localhost." names',
    ],
    [
      "a fully qualified metadata name",
      { orders: { allowedCallbackHosts: ["metadata.google.internal."] } },
      '"metadata.google.internal." names',
    ],
    ["a .lan name", { orders: { allowedCallbackHosts: ["printer.lan"] } }, '"printer.lan" names'],
    ["a .corp wildcard", { orders: { allowedCallbackHosts: ["*.corp"] } }, '"*.corp" names'],
    ["an .intranet name", { orders: { allowedCallbackHosts: ["wiki.intranet"] } }, '"wiki.intranet" names'],
  ])("outside local, refuses %s, as a deploy would", (_name, topics, expected) => {
    const result = applyRuntimeSettings(loadEnvironmentConfig("prod"), { topics });

    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.problems.join("\n")).toContain(expected);
  });

  it.each([
    [
      "a default callback the topic's allow-list does not admit",
      {
        orders: {
          allowedCallbackHosts: ["hooks.example.com"],
          defaultCallbackUrl: "https://other.example.com/",
        },
      },
      'topic "orders", field "defaultCallbackUrl": host "other.example.com" is not in the topic\'s allowed callback hosts',
    ],
    [
      "a plain-http default callback",
      { orders: { defaultCallbackUrl: "http://hooks.example.com/" } },
      'topic "orders", field "defaultCallbackUrl": scheme must be https',
    ],
    [
      "a default callback to the metadata address",
      { orders: { defaultCallbackUrl: "https://169.254.169.254/latest" } },
      'field "defaultCallbackUrl": host "169.254.169.254" is a private',
    ],
    [
      "a default callback the new allow-list no longer admits",
      { orders: { allowedCallbackHosts: ["hooks.example.com"] } },
      'field "defaultCallbackUrl"',
    ],
  ])("refuses %s: every add relying on it would be a 400 blaming the caller", (_name, topics, expected) => {
    // Prepare
    const prod = loadEnvironmentConfig("prod");
    const withDefault = {
      ...prod,
      resolvedTopics: {
        ...prod.resolvedTopics,
        orders: { ...prod.resolvedTopics.orders, defaultCallbackUrl: "https://default.example.com/hook" },
      },
    } as typeof prod;

    // Act
    const result = applyRuntimeSettings(withDefault, { topics });

    // Assess
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.problems.join("\n")).toContain(expected);
  });

  it("outside local, accepts public allow-list entries", () => {
    const result = applyRuntimeSettings(loadEnvironmentConfig("prod"), {
      topics: { orders: { allowedCallbackHosts: ["hooks.example.com", "*.example.org", "*"] } },
    });

    expect(result.ok).toBe(true);
  });

  it.each([
    ["an empty label", "a..b"],
    ["only dots", "..."],
    ["a wildcard over an empty label", "*.."],
    ["a leading dot", ".example.com"],
    ["a label longer than DNS allows", `${"a".repeat(64)}.example.com`],
    ["a name ending in a number that is no IPv4 address", "999.1.1.1"],
    ["a short IPv4 spelling (URLs read 1.2.3 as 1.2.0.3)", "1.2.3"],
    ["a hex IPv4 spelling", "0x7f.1"],
    ["a wildcard over an IP address", "*.10.0.0.1"],
    ["an IPv4 address in brackets", "[1.2.3.4]"],
    ["brackets holding no IPv6 address", "[:::]"],
  ])(
    "refuses an allow-list entry that can match no callback host (%s), saying why, in every environment",
    (_name, pattern) => {
      // Act
      const results = ["local", "prod"].map((environment) =>
        applyRuntimeSettings(loadEnvironmentConfig(environment), {
          topics: { [environment === "local" ? "demo" : "orders"]: { allowedCallbackHosts: ["*", pattern] } },
        }),
      );

      // Assess
      for (const result of results) {
        expect(result.ok).toBe(false);
        if (!result.ok)
          expect(result.problems.join("\n")).toMatch(
            /field "allowedCallbackHosts\.1": .*matches no callback host/,
          );
      }
    },
  );

  it("accepts every well-formed kind of allow-list entry locally", () => {
    const result = applyRuntimeSettings(deployed, {
      topics: {
        demo: {
          allowedCallbackHosts: [
            "*",
            "hooks.example.com",
            "hooks.example.com.",
            "*.example.org",
            "10.1.2.3",
            "[::1]",
            "[::ffff:10.0.0.1]",
            "intranet",
            "xn--bcher-kva.example",
          ],
        },
      },
    });

    expect(result).toMatchObject({ ok: true });
  });

  it("refuses text that is not JSON, and a document without topics", () => {
    expect(applyRuntimeSettingsText(deployed, "{topics:")).toMatchObject({ ok: false });
    expect(applyRuntimeSettingsText(deployed, "{}")).toMatchObject({ ok: false });
    expect(applyRuntimeSettingsText(deployed, '{"topics":{},"extra":1}')).toMatchObject({ ok: false });
  });

  it.each([
    ["a row", '{"topics":{"demo":{"paused":true,"maxAttempts":2,"paused":false}}}', "topics.demo.paused"],
    ["a topic", '{"topics":{"demo":{"paused":true},"demo":{"maxAttempts":2}}}', "topics.demo"],
    ["the topics", '{"topics":{"demo":{"paused":true}},"topics":{}}', "topics"],
    [
      "a key spelled with an escape",
      '{"topics":{"demo":{"paused":true,"p\\u0061used":false}}}',
      "topics.demo.paused",
    ],
  ])(
    "refuses a document giving %s twice, naming where, not applying whichever came last (the validator and every function alike)",
    (_what, text, path) => {
      // Act
      const result = applyRuntimeSettingsText(deployed, text);

      // Assess
      expect(result).toEqual({ ok: false, problems: [`"${path}": is given more than once in one object`] });
    },
  );

  it("a key given once in each of two objects is no repeat", () => {
    // Act
    const result = applyRuntimeSettingsText(
      deployed,
      '{"topics":{"demo":{"backoff":{"initialSeconds":2},"maxAttempts":2}}}',
    );

    // Assess
    expect(result.ok, JSON.stringify(result)).toBe(true);
  });

  it("says where a document stops being JSON without quoting it (a callback URL's token in the text)", () => {
    // Act
    const result = applyRuntimeSettingsText(deployed, '{"topics":{"demo":{"defaultCallback":s3cr3t-token}}}');

    // Assess
    expect(result).toMatchObject({ ok: false });
    expect(JSON.stringify(result)).not.toContain("s3cr3t");
    expect(JSON.stringify(result)).toContain("not JSON");
  });

  it("refuses turning on a rate limit, per-host concurrency or the breaker on a topic deployed without them, and lets a protected topic change them", () => {
    // Prepare
    const unprotected = {
      ...deployed.resolvedTopics.demo,
      rateLimit: undefined,
      maxConcurrencyPerHost: undefined,
      circuitFailureThreshold: undefined,
    };
    const base = {
      ...deployed,
      resolvedTopics: { ...deployed.resolvedTopics, demo: unprotected },
    } as typeof deployed;
    const protectedBase = {
      ...deployed,
      resolvedTopics: { ...deployed.resolvedTopics, demo: { ...unprotected, circuitFailureThreshold: 5 } },
    } as typeof deployed;

    // Act
    const turnedOn = ["rateLimit", "maxConcurrencyPerHost", "circuitFailureThreshold"].map((row) =>
      applyRuntimeSettings(base, { topics: { demo: { [row]: 3 } } }),
    );
    const changed = applyRuntimeSettings(protectedBase, {
      topics: { demo: { rateLimit: 3, circuitFailureThreshold: 2 } },
    });

    // Assess
    for (const result of turnedOn) {
      expect(result.ok).toBe(false);
      expect(result.ok ? [] : result.problems.join("; ")).toMatch(/deployed with one of them.*deploy/);
    }
    expect(changed.ok).toBe(true);
  });

  it("null removes an optional row the topic was deployed with (a row left out keeps it): default callback, grouping, receiver protections", () => {
    // Prepare: prod's notifications topic is deployed with a breaker; give orders a default callback
    const prod = loadEnvironmentConfig("prod");
    const orders = { ...prod.resolvedTopics.orders, defaultCallbackUrl: "https://default.example.com/hook" };
    const deployedProd = {
      ...prod,
      resolvedTopics: { ...prod.resolvedTopics, orders },
    } as typeof prod;

    // Act
    const result = applyRuntimeSettingsText(
      deployedProd,
      JSON.stringify({
        topics: {
          orders: { defaultCallbackUrl: null, deliverBy: null, allowedCallbackHosts: ["hooks.example.com"] },
          notifications: { circuitFailureThreshold: null },
        },
      }),
    );

    // Assess
    if (!result.ok) throw new Error(result.problems.join("; "));
    expect(result.config.resolvedTopics.orders).not.toHaveProperty("defaultCallbackUrl");
    expect(result.config.resolvedTopics.orders).not.toHaveProperty("deliverBy");
    expect(result.config.resolvedTopics.notifications).not.toHaveProperty("circuitFailureThreshold");
    expect(result.config.resolvedTopics.notifications?.maxAttempts).toBe(5);
  });

  it("refuses an empty allow-list, which would dead-letter the topic's tasks in flight by policy", () => {
    const result = applyRuntimeSettings(deployed, { topics: { demo: { allowedCallbackHosts: [] } } });

    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.problems).toEqual([
        expect.stringMatching(/^topic "demo", field "allowedCallbackHosts": /),
      ]);
    }
  });

  it("null is refused for a row every topic must have", () => {
    const result = applyRuntimeSettings(deployed, { topics: { demo: { maxAttempts: null } } });

    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.problems.join("\n")).toContain('topic "demo", field "maxAttempts"');
  });

  it("a topic the document leaves out keeps its deployed settings", () => {
    const result = applyRuntimeSettingsText(deployed, '{"topics":{}}');

    expect(result).toEqual({ ok: true, config: deployed });
  });
});
