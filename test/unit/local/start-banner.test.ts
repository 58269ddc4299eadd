import { describe, expect, it } from "vitest";
import { receiverPort, startBanner } from "#local/bin/start-banner.js";

function cloud(apiPort: number, awsPort: number) {
  return {
    apiUrl: `http://127.0.0.1:${apiPort}`,
    awsEndpoint: `http://127.0.0.1:${awsPort}`,
    signingSecret: "whsec_secret",
    verificationKeys: { demo: "whsec_demo" },
    subscriberVerificationKeys: {},
    topicSettings: { file: ".punctual/s.json", endpoint: "http://127.0.0.1:1", deployedVersion: () => 1 },
  };
}
const options = { faultSeed: 1 };

/** Every `host:port` the banner names. */
function addresses(text: string): string[] {
  return [...text.matchAll(/127\.0\.0\.1:(\d+)/g)].map((m) => m[1] as string);
}

describe("npm start's banner", () => {
  it("names the ports the cloud bound, and the receiver's default :4000 when nothing of ours holds it", () => {
    const text = startBanner(options, cloud(3100, 4600), 1.23);
    expect(new Set(addresses(text))).toEqual(new Set(["3100", "4600", "4000"]));
    expect(text).toContain("ready in 1.2 s");
    expect(text).toContain("run a receiver on 127.0.0.1:4000 first, e.g. `npm run receiver`");
    expect(text).toContain('"callback":{"url":"http://127.0.0.1:4000/hook"}');
    expect(text).toContain("curl -sS -X POST http://127.0.0.1:3100/v1/tasks");
    expect(text).toContain("console        http://127.0.0.1:3100/console");
  });

  it("with --port 4000 suggests a receiver elsewhere, and the demo's callback and command agree on it", () => {
    const text = startBanner(options, cloud(4000, 4566), 1);
    expect(text).toContain("run a receiver on 127.0.0.1:4001 first, e.g. `npm run receiver -- 4001`");
    expect(text).toContain('"callback":{"url":"http://127.0.0.1:4001/hook"}');
    expect(text).not.toContain("4000/hook");
  });

  it("keeps the receiver off the AWS port too", () => {
    expect(receiverPort([4001, 4000])).toBe(4002);
    expect(receiverPort([3000, 4566])).toBe(4000);
    const text = startBanner(options, cloud(3000, 4000), 1);
    expect(text).toContain("http://127.0.0.1:4001/hook");
  });

  it("names --data and the faults only when given", () => {
    expect(startBanner(options, cloud(3000, 4566), 1)).toContain("data           in memory");
    const text = startBanner({ data: "/tmp/d", faults: 0.05, faultSeed: 7 }, cloud(3000, 4566), 1);
    expect(text).toContain("data           /tmp/d");
    expect(text).toContain("5.0 % of the functions' and event sources' AWS calls fail (seed 7)");
  });
});
