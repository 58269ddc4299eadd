/**
 * Synthesis refuses what must never reach a real account: the local environment's relaxations anywhere else,
 * the local environment anywhere but the local account, and prod without anyone to receive its alarms.
 */
import { App } from "aws-cdk-lib";
import { describe, expect, it } from "vitest";
import { addPunctualStack, addPunctualStackFromContext } from "#cdk/lib/app.js";
import { isPrivateHostPattern, LOCAL_ACCOUNT } from "#cdk/lib/deployment-guards.js";
import { PunctualStack } from "#cdk/lib/punctual-stack.js";
import { ENVIRONMENTS } from "#shared/config/environments/index.js";
import {
  ConfigError,
  type EnvironmentConfigInput,
  loadEnvironmentConfig,
  parseConfig,
} from "#shared/config/index.js";

const newApp = (context: Record<string, unknown> = {}) =>
  new App({ context: { "aws:cdk:bundling-stacks": [], ...context } });

function environment(name: string): EnvironmentConfigInput {
  const input = ENVIRONMENTS[name];
  if (!input) throw new Error(name);
  return input;
}

/** The problems synthesis reports for a configuration, or [] when it synthesizes. */
function refusals(input: EnvironmentConfigInput, account?: string): string[] {
  try {
    const config = parseConfig(input);
    addPunctualStack(newApp(), account ? { ...config, account } : config);
    return [];
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return [...error.problems];
  }
}

describe("the local environment's relaxations are refused everywhere else", () => {
  const dev = environment("dev");

  it("refuses api.auth none", () => {
    expect(refusals({ ...dev, api: { auth: { type: "none" } } })).toEqual([
      expect.stringMatching(/^field "api\.auth\.type": "none" is only allowed in the local environment/),
    ]);
  });

  it("refuses plain-http callbacks, in the system section and per topic", () => {
    expect(refusals({ ...dev, system: { allowHttpCallbacks: true } })).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^field "system\.allowHttpCallbacks": plain-http callbacks is only allowed/),
        expect.stringMatching(/^topic "orders", field "allowHttpCallbacks"/),
      ]),
    );
    expect(refusals({ ...dev, topics: { ...dev.topics, demo: { allowHttpCallbacks: true } } })).toEqual([
      expect.stringMatching(/^topic "demo", field "allowHttpCallbacks"/),
    ]);
  });

  it("refuses private, loopback, link-local and internal allow-list entries, naming each", () => {
    const hosts = [
      "127.0.0.1",
      "[::1]",
      "localhost",
      "10.1.2.3",
      "169.254.169.254",
      "*.internal",
      "intranet",
    ];
    const problems = refusals({ ...dev, topics: { orders: { allowedCallbackHosts: ["*", ...hosts] } } });
    expect(problems).toHaveLength(hosts.length);
    for (const host of hosts) {
      expect(problems).toContainEqual(
        expect.stringMatching(
          new RegExp(`^topic "orders", field "allowedCallbackHosts": "${escapeRegExp(host)}"`),
        ),
      );
    }
  });

  it("accepts public hosts and patterns", () => {
    for (const pattern of ["*", "example.com", "*.example.com", "93.184.215.14", "[2606:4700::1111]"]) {
      expect(isPrivateHostPattern(pattern), pattern).toBe(false);
    }
    expect(refusals({ ...dev, topics: { orders: { allowedCallbackHosts: ["*.example.com"] } } })).toEqual([]);
  });
});

describe("the local environment only targets the local account", () => {
  it("synthesizes for the local account, as the local cloud and LocalStack do", () => {
    expect(refusals(environment("local"))).toEqual([]);
    expect(loadEnvironmentConfig("local").account).toBe(LOCAL_ACCOUNT);
    expect(
      () => new PunctualStack(newApp(), "Punctual-local", { config: loadEnvironmentConfig("local") }),
    ).not.toThrow();
  });

  it("refuses a real account, whether from the config or from the CLI's credentials", () => {
    expect(refusals(environment("local"), "123456789012")).toEqual([
      expect.stringMatching(
        /^field "account": the local environment .* account 000000000000; found 123456789012/,
      ),
    ]);
    const fromCredentials = () =>
      new PunctualStack(newApp(), "Punctual-local", {
        config: loadEnvironmentConfig("local"),
        env: { account: "123456789012", region: "eu-west-1" },
      });
    expect(fromCredentials).toThrow(/found 123456789012/);
  });

  it("refuses an unspecified account: it would deploy wherever the credentials point", () => {
    const { account: _, ...withoutAccount } = environment("local");
    expect(refusals(withoutAccount)).toEqual([expect.stringMatching(/found no account/)]);
  });
});

describe("prod needs someone to receive its alarms", () => {
  it("refuses prod without an alarm subscriber, and says how to give one", () => {
    expect(refusals(environment("prod"))).toEqual([
      expect.stringMatching(/^field "alarmSubscribers": .* -c alarmEmails=/),
    ]);
  });

  /** The alarm subscribers prod's stack subscribes with these `-c alarmEmails` / `-c alarmHttpsUrls`. */
  const subscribersFrom = (alarmEmails: string, alarmHttpsUrls: string) =>
    addPunctualStackFromContext(newApp({ env: "prod", alarmEmails, alarmHttpsUrls })).config.alarmSubscribers;

  it("takes subscribers from -c alarmEmails / -c alarmHttpsUrls and subscribes them", () => {
    expect(
      subscribersFrom("oncall@punctual.test, second@punctual.test", "https://pager.punctual.test/hook"),
    ).toEqual({
      emails: ["oncall@punctual.test", "second@punctual.test"],
      httpsUrls: ["https://pager.punctual.test/hook"],
    });
  });

  it("subscribes an address given twice once: in the file and with -c, twice with -c, or in another case", () => {
    const hook = "https://pager.punctual.test/hook";
    expect(
      subscribersFrom("oncall@punctual.test,OnCall@Punctual.test, oncall@punctual.test", `${hook},${hook}`),
    ).toEqual({ emails: ["oncall@punctual.test"], httpsUrls: [hook] });

    const inFile = parseConfig({
      ...environment("staging"),
      alarmSubscribers: { emails: ["oncall@punctual.test", "oncall@punctual.test"], httpsUrls: [] },
    });
    expect(inFile.alarmSubscribers.emails).toEqual(["oncall@punctual.test"]);
  });

  it("refuses an invalid subscriber from the context, naming the option", () => {
    const app = newApp({ env: "prod", alarmEmails: "not-an-address", alarmHttpsUrls: "http://plain.test" });
    expect(() => addPunctualStackFromContext(app)).toThrow(/-c alarmEmails: "not-an-address"/);
    expect(() => addPunctualStackFromContext(app)).toThrow(/-c alarmHttpsUrls: "http:\/\/plain\.test"/);
  });
});

describe("an HTTPS alarm subscriber must be an endpoint SNS can reach", () => {
  // Amazon SNS posts to HTTPS subscribers over the public internet and supports no private endpoint: a subscriber on
  // a private host would receive no alarm at all, while the topic reads as if someone did.
  const withHooks = (name: string, httpsUrls: string[]) =>
    refusals({
      ...environment(name),
      alarmSubscribers: { emails: ["oncall@punctual.test"], httpsUrls },
    });
  const privateHooks = [
    ["https://10.1.2.3/hook", "10.1.2.3"],
    ["https://192.168.0.10:8443/hook", "192.168.0.10"],
    ["https://127.0.0.1/hook", "127.0.0.1"],
    ["https://0x7f.1/hook", "127.0.0.1"],
    ["https://localhost/hook", "localhost"],
    ["https://LocalHost./hook", "localhost."],
    ["https://169.254.169.254/hook", "169.254.169.254"],
    ["https://[::1]/hook", "[::1]"],
    ["https://[fd00:ec2::254]/hook", "[fd00:ec2::254]"],
    ["https://[fe80::1]/hook", "[fe80::1]"],
    ["https://[::ffff:10.0.0.1]/hook", "[::ffff:a00:1]"],
    ["https://pager.internal/hook", "pager.internal"],
    ["https://pager.local/hook", "pager.local"],
    ["https://pager/hook", "pager"],
  ] as const;

  it.each(privateHooks)("refuses %s in prod, naming its host (%s) and why", (url, host) => {
    expect(withHooks("prod", [url])).toEqual([
      expect.stringMatching(
        new RegExp(
          `^field "alarmSubscribers\\.httpsUrls": the host "${escapeRegExp(host)}" is private, loopback, link-local or internal; Amazon SNS .*public internet`,
        ),
      ),
    ]);
  });

  it("refuses it in every deployed environment (SNS is the same there), and names each one refused", () => {
    const problems = withHooks("dev", [
      "https://pager.example.com/hook",
      "https://10.1.2.3/a",
      "https://[::1]/b",
    ]);
    expect(problems).toHaveLength(2);
    expect(problems.join("\n")).toMatch(/"10\.1\.2\.3"[\s\S]*"\[::1\]"/);
  });

  it("names the host only: credentials SNS takes in the URL are not echoed", () => {
    const [problem] = withHooks("prod", ["https://pager:s3cret@10.1.2.3/hook"]);
    expect(problem).toMatch(/"10\.1\.2\.3"/);
    expect(problem).not.toMatch(/s3cret/);
  });

  it("refuses a private host given with -c alarmHttpsUrls too", () => {
    const app = newApp({ env: "prod", alarmEmails: "", alarmHttpsUrls: "https://192.168.1.5/hook" });
    expect(() => addPunctualStackFromContext(app)).toThrow(/"192\.168\.1\.5" is private/);
  });

  it("accepts public hosts: a name (what it resolves to cannot be known at synth) and public addresses", () => {
    expect(
      withHooks("prod", [
        "https://pager.example.com/hook",
        "https://93.184.215.14/hook",
        "https://[2606:4700::1111]:8443/hook",
      ]),
    ).toEqual([]);
  });
});

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
