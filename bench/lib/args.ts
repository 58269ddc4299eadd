import { parseArgs } from "node:util";
import type { System } from "./report.js";

/** The workloads `--only=` can name, in the order a full run takes them. */
export const WORKLOADS = [
  "adds",
  "client-adds",
  "batch-adds",
  "keyed-batch-adds",
  "burst",
  "sustained",
  "ramp",
  "functions",
] as const;
export type Workload = (typeof WORKLOADS)[number];

export const SYSTEMS: readonly System[] = ["punctual", "bullmq"];

export interface BenchArgs {
  readonly quick: boolean;
  /** Undefined: every workload. */
  readonly only: readonly Workload[] | undefined;
  readonly systems: readonly System[];
  readonly noFunctions: boolean;
  readonly burstVia: "api" | "batch" | "client";
  readonly sustainedVia: "api" | "client";
}

/** A command line the bench cannot read: said, rather than a full ~8-minute run started in its place. */
export class BenchArgsError extends Error {
  override readonly name = "BenchArgsError";
}

/**
 * `npm run bench`'s options, read strictly (node:util's parseArgs): an unknown option, a positional argument (the
 * `--only burst` spelling, whose `burst` a loose reader drops, running everything) or an unknown workload or system
 * name is refused, never ignored.
 */
export function parseBenchArgs(argv: readonly string[]): BenchArgs {
  let values: ReturnType<typeof readOptions>;
  try {
    values = readOptions(argv);
  } catch (error) {
    throw new BenchArgsError((error as Error).message);
  }
  return {
    quick: values.quick ?? false,
    only: values.only === undefined ? undefined : namesOf("--only", values.only, WORKLOADS),
    systems: values.systems === undefined ? SYSTEMS : namesOf("--systems", values.systems, SYSTEMS),
    noFunctions: values["no-functions"] ?? false,
    burstVia: oneOf("--burst-via", values["burst-via"] ?? "api", ["api", "batch", "client"] as const),
    sustainedVia: oneOf("--sustained-via", values["sustained-via"] ?? "api", ["api", "client"] as const),
  };
}

function readOptions(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: false,
    options: {
      quick: { type: "boolean" },
      only: { type: "string" },
      systems: { type: "string" },
      "no-functions": { type: "boolean" },
      "burst-via": { type: "string" },
      "sustained-via": { type: "string" },
    },
  }).values;
}

function namesOf<T extends string>(option: string, list: string, known: readonly T[]): T[] {
  const names = list.split(",");
  for (const name of names) oneOf(option, name, known);
  return names as T[];
}

function oneOf<T extends string>(option: string, value: string, known: readonly T[]): T {
  if ((known as readonly string[]).includes(value)) return value as T;
  throw new BenchArgsError(`${option}: unknown value "${value}"; one of ${known.join(", ")}`);
}
