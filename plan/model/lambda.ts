import type { World } from "./world.js";

/**
 * A Lambda function's instances: an invocation takes a warm idle instance or starts a new one (cold start), and
 * the function's peak concurrency and billed time are what the quotas and the cost are computed from.
 */
export class LambdaFunction {
  busy = 0;
  peak = 0;
  invocations = 0;
  coldStarts = 0;
  billedMs = 0;
  #instances = 0;

  constructor(
    private readonly world: World,
    readonly name: "add" | "relay" | "deliver",
  ) {}

  /** Runs `body` in an instance; `tasks` is how many tasks the event carries (per-task handler CPU). */
  invoke(tasks: number, body: (finish: () => void) => void, done: () => void): void {
    const { sim, profile } = this.world;
    const started = sim.now;
    this.busy++;
    this.invocations++;
    this.peak = Math.max(this.peak, this.busy);
    const cold = this.busy > this.#instances;
    if (cold) {
      this.#instances++;
      this.coldStarts++;
    }
    const ownCpu = profile.invocationCpuMs[this.name] + tasks * profile.perTaskCpuMs[this.name];
    sim.after(cold ? profile.coldStartMs : 0, () =>
      this.world.cpu(
        ownCpu,
        () =>
          body(() => {
            this.busy--;
            this.billedMs += sim.now - started;
            done();
          }),
        this.world.threadOf(this.name),
      ),
    );
  }
}
