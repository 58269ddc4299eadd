import { describe, expect, it } from "vitest";
import { runOffline } from "./offline.js";

const API = ["--api", "http://127.0.0.1:3000"];

describe("tasks list: an option the chosen list cannot honour is refused, never dropped", () => {
  it("--failed with --subscriber is a usage error (exit 1) and sends nothing: it would list every subscriber's dead letters", async () => {
    // Act
    const result = await runOffline([
      ...API,
      "tasks",
      "list",
      "--topic",
      "orders",
      "--failed",
      "--subscriber",
      "audit",
    ]);

    // Assess
    expect(result.code).toBe(1);
    expect(result.err).toMatch(/--subscriber/);
    expect(result.sent).toEqual([]);
  });
});
