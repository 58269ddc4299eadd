import { describe, expect, it } from "vitest";
import { runOffline } from "./offline.js";

const ID = "demo.schedule.01JD3ZKZ3G3H4J5K6M7N8P9Q0R";

describe("schedules show|pause|resume|delete <schedule-id>", () => {
  it.each([
    ["show", `/v1/schedules/${ID}`, ID],
    ["pause", `https://api.example.com/v1/schedules/${ID}/pause`, ID],
    ["delete", "..", undefined],
    ["resume", ".", undefined],
  ])(
    "%s %s (a path, a URL or a dot segment) is a usage error, sent nowhere: it reached the API as another path, 404 'no such route'",
    async (command, argument, id) => {
      // Act
      const result = await runOffline(["--api", "http://127.0.0.1:3000", "schedules", command, argument]);

      // Assess
      expect(result.code).toBe(1);
      expect(result.sent).toEqual([]);
      expect(result.err).toMatch(/not a path or URL/);
      if (id) expect(result.err).toContain(`give ${id}`);
    },
  );

  it.each(["show", "pause", "resume", "delete"])(
    "%s \"\" (an unset shell variable) is a usage error, sent nowhere: its empty path segment met 404 'no such route'",
    async (command) => {
      // Act
      const result = await runOffline(["--api", "http://127.0.0.1:3000", "schedules", command, ""]);

      // Assess
      expect(result.code).toBe(1);
      expect(result.sent).toEqual([]);
      expect(result.err).toMatch(/<schedule-id> is empty/);
    },
  );

  it("a schedule id goes to the API as one path segment", async () => {
    // Act
    const result = await runOffline(["--api", "http://127.0.0.1:3000", "schedules", "pause", ID]);

    // Assess
    expect(result.sent[0]).toBe(`http://127.0.0.1:3000/v1/schedules/${ID}/pause`);
  });
});

describe("schedules get <schedule-id>", () => {
  it("is schedules show, as tasks get and tasks show are one command: it was 'unknown command'", async () => {
    // Act
    const result = await runOffline(["--api", "http://127.0.0.1:3000", "schedules", "get", ID]);

    // Assess
    expect(result.err).not.toMatch(/unknown command/);
    expect(result.sent[0]).toBe(`http://127.0.0.1:3000/v1/schedules/${ID}`);
  });
});
