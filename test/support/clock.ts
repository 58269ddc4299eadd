/**
 * A clock the spec moves by hand: `now()` for code that reads time, `sleep()` for code that waits (it records the
 * wait and moves the clock instead of waiting), `advance()`/`set()` for the spec. Nothing here ever fires on its own.
 */
export class ManualClock {
  readonly sleeps: number[] = [];
  constructor(public nowMs: number) {}
  readonly now = (): number => this.nowMs;
  readonly sleep = async (ms: number): Promise<void> => {
    this.sleeps.push(ms);
    this.nowMs += ms;
  };
  set(iso: string): void {
    this.nowMs = Date.parse(iso);
  }
  advance(ms: number): void {
    this.nowMs += ms;
  }
}
