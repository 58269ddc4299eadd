import { Cron } from "croner";
import { vi } from "vitest";

/** How many croner `nextRun` searches `act` made: all of them, and those on a zone's clock. */
export interface CronerSearches<T> {
  readonly result: T;
  readonly all: number;
  readonly zoned: number;
}

/**
 * Counts croner's `nextRun` searches while `act` runs, the real implementation still answering: how much work a
 * schedule's occurrence took, instead of how long it took on this machine. A search on a zone's clock
 * (`options.timezone` set) is croner's own, which rejects DST-gap times one at a time up to the year 3000 (~80 s
 * of CPU for a pattern that lives only in gaps); searches without a zone are the DST-free clock
 * shared/domain/schedule-cron.ts steps to find that out first.
 */
export async function cronerSearchesOf<T>(act: () => T | Promise<T>): Promise<CronerSearches<T>> {
  const spy = vi.spyOn(Cron.prototype, "nextRun");
  try {
    const result = await act();
    const zoned = (spy.mock.contexts as Cron[]).filter((cron) => cron.options.timezone !== undefined).length;
    return { result, all: spy.mock.calls.length, zoned };
  } finally {
    spy.mockRestore();
  }
}
