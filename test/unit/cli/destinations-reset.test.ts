import { describe, expect, it } from "vitest";
import { runOffline } from "./offline.js";

describe("destinations reset <host>", () => {
  it.each([
    ["https://hooks.example.com/punctual", "hooks.example.com"],
    ["http://127.0.0.1:4000/hook", "127.0.0.1:4000"],
    ["hooks.example.com/punctual", undefined],
  ])(
    "%s (a callback URL pasted whole) is a usage error naming the host, sent nowhere: API Gateway decodes its encoded slashes and answered 404 'no such route'",
    async (argument, host) => {
      // Act
      const result = await runOffline(["--api", "http://127.0.0.1:3000", "destinations", "reset", argument]);

      // Assess
      expect(result.code).toBe(1);
      expect(result.sent).toEqual([]);
      expect(result.err).toMatch(/host\[:port\].*not a path or URL/);
      if (host) expect(result.err).toContain(`give ${host}`);
    },
  );

  it("\"\" (an unset shell variable) is a usage error, sent nowhere: its empty path segment met 404 'no such route'", async () => {
    // Act
    const result = await runOffline(["--api", "http://127.0.0.1:3000", "destinations", "reset", ""]);

    // Assess
    expect(result.code).toBe(1);
    expect(result.sent).toEqual([]);
    expect(result.err).toMatch(/<host> is empty/);
  });

  it("a host[:port] goes to the API as one path segment", async () => {
    // Act
    const result = await runOffline([
      "--api",
      "http://127.0.0.1:3000",
      "destinations",
      "reset",
      "[::1]:4000",
    ]);

    // Assess
    expect(result.sent[0]).toContain("/v1/destinations/%5B%3A%3A1%5D%3A4000/reset");
  });
});
