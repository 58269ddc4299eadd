import { vi } from "vitest";

/**
 * Captures stdout, where Powertools writes its EMF lines: the returned function answers the lines written so far
 * that carry metrics, parsed. Restored by the test's `vi.restoreAllMocks()`.
 */
export function captureEmf(): () => Record<string, unknown>[] {
  const stdout = vi.spyOn(process.stdout, "write").mockImplementation(() => true);
  return () =>
    stdout.mock.calls
      .map(([chunk]) => String(chunk))
      .filter((line) => line.includes('"CloudWatchMetrics"'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
}
