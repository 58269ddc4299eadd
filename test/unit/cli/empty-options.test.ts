import { describe, expect, it } from "vitest";
import { main } from "../../../cli/main.js";
import { scheduleCreate } from "./offline.js";

/**
 * `punctual` in-process against a fake API that refuses everything, as the API refuses these empty values
 * (`min(1)`): what matters is what was sent. An empty value is what `--error-contains "$PATTERN"` passes when the
 * variable is unset.
 */
async function run(argv: string[]) {
  const sent: { url: URL; body: unknown }[] = [];
  const fetch: typeof globalThis.fetch = async (input, init) => {
    sent.push({ url: new URL(String(input)), body: init?.body ? JSON.parse(String(init.body)) : undefined });
    const error = { code: "validation_failed", message: "too small" };
    return new Response(JSON.stringify({ error }), {
      status: 400,
      headers: { "content-type": "application/json" },
    });
  };
  const io = { out: () => {}, err: () => {}, env: {}, fetch };
  const code = await main(["--api", "http://127.0.0.1:3000", "--json", ...argv], io);
  return { code, sent };
}

describe("an option given an empty value is sent as given, never dropped as if absent", () => {
  it.each([
    ["--error-contains", "error_contains"],
    ["--failed-after", "failed_after"],
    ["--failed-before", "failed_before"],
  ])(
    'topics replay %s "" narrows nothing away: it is sent (and refused), not a replay of every dead letter',
    async (option, field) => {
      // Act
      const result = await run(["topics", "replay", "orders", option, ""]);

      // Assess
      expect(result.code).toBe(2);
      expect(result.sent).toHaveLength(1);
      expect(result.sent[0]?.body).toEqual({ [field]: "" });
    },
  );

  it('destinations reset HOST --topic "" is sent as topic=, not a reset of every topic\'s circuit', async () => {
    // Act
    const result = await run(["destinations", "reset", "hooks.example.com", "--topic", ""]);

    // Assess
    expect(result.sent[0]?.url.searchParams.get("topic")).toBe("");
  });

  it.each([
    ["--callback", "callback", { url: "" }],
    ["--deliver-by", "deliver_by", ""],
    ["--start-at", "start_at", ""],
    ["--end-at", "end_at", ""],
    ["--catch-up", "catch_up", ""],
  ])('schedules create %s "" is sent as given, not dropped', async (option, field, expected) => {
    // Act
    const result = await run(scheduleCreate("--content", "{}", option, ""));

    // Assess
    expect(result.sent[0]?.body).toMatchObject({ [field]: expected });
  });
});
