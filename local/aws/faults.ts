import type http from "node:http";

/** The AWS services the local cloud emulates (kept here so the gateway and the fault layer share one name). */
export type AwsService = "dynamodb" | "sqs" | "scheduler";
export const AWS_SERVICES: readonly AwsService[] = ["dynamodb", "sqs", "scheduler"];

/**
 * What can go wrong with one AWS call, as the client sees it over the wire:
 * - `throttle`: the service's own throttling error (DynamoDB `ProvisionedThroughputExceededException` /
 *   `ThrottlingException` 400, SQS `RequestThrottled` 403 / `ThrottlingException` 400, Scheduler `ThrottlingException`
 *   429).
 *   Not forwarded.
 * - `error`: a 5xx in the service's shape (DynamoDB `InternalServerError` 500 / `ServiceUnavailable` 503, SQS
 *   `InternalFailure` 500 / `ServiceUnavailable` 503, Scheduler `InternalServerException` 500 /
 *   `ServiceUnavailableException` 503). Not forwarded.
 * - `timeout`: the request is held `timeoutMs` without an answer, then its connection is dropped (the SDK has
 *   no request timeout of its own by default, so this is what "the call timed out" looks like). Not forwarded.
 * - `reset`: the connection is dropped before the request reaches the service. Not forwarded.
 * - `resetAfter`: the request IS forwarded and executed, then the connection is dropped instead of answering:
 *   the operation happened but the client sees an error (the nastiest case: a retry repeats it).
 * - `errorAfter`: forwarded and executed, answered with a 500 anyway (same lesson, retryable status).
 * - `slow`: forwarded after `slowMs` of extra latency (not an error; moves timing around).
 */
export type FaultKind = "throttle" | "error" | "timeout" | "reset" | "resetAfter" | "errorAfter" | "slow";
export const FAULT_KINDS: readonly FaultKind[] = [
  "throttle",
  "error",
  "timeout",
  "reset",
  "resetAfter",
  "errorAfter",
  "slow",
];
/** The kinds the caller sees as a failed call (`slow` only delays). */
export const ERROR_FAULT_KINDS: readonly FaultKind[] = FAULT_KINDS.filter((k) => k !== "slow");

/** Probability of each fault kind for one request (their sum must stay ≤ 1). */
export type FaultRates = Partial<Record<FaultKind, number>>;

export interface ServiceFaults {
  /** Rates for this service's operations (replaces the policy-wide `rates`). */
  readonly rates?: FaultRates;
  /** Rates per operation name (`PutItem`, `SendMessageBatch`, `CreateSchedule`…), replacing the above. */
  readonly operations?: Readonly<Record<string, FaultRates>>;
}

/**
 * A fault policy, JSON-serialisable (it crosses into the emulator process). Rates resolve most specific first:
 * `services[s].operations[op]` → `services[s].rates` → `rates`.
 */
export interface FaultPolicy {
  /** Seed of the fault decisions (one PRNG stream per service and operation). Default 1. */
  readonly seed?: number;
  readonly rates?: FaultRates;
  readonly services?: Partial<Record<AwsService, ServiceFaults>>;
  /**
   * Per statement of a DynamoDB BatchExecuteStatement (local/aws/partiql.ts): the probability that it answers
   * this error code (`ConditionalCheckFailed`, `ThrottlingError`, `InternalServerError`…) in its own `Error`
   * instead of being executed, inside an HTTP 200 — as DynamoDB answers a batch. Their sum must stay ≤ 1.
   */
  readonly statementErrors?: Readonly<Record<string, number>>;
  /**
   * Per entry of an SQS SendMessageBatch (local/aws/batch-entry-faults.ts): the probability `rate` that the entry
   * is answered in `Failed` (SenderFault false, `InternalError` or `ServiceUnavailable`) instead of being sent,
   * inside an HTTP 200, while the call's other entries land. `shape` says what happens to the later entries of the
   * refused entry's MessageGroupId in the same call (AWS documents neither): `independent` (default, the worst
   * case for order) — each drawn on its own, so a later entry of the group may land ahead of the refused one;
   * `stopGroup` — every later entry of that group is refused too.
   */
  readonly batchEntryErrors?: BatchEntryErrors;
  /** How long a `timeout` holds the request before dropping it. Default 1000 ms. */
  readonly timeoutMs?: number;
  /** Extra latency of a `slow` request. Default 200 ms. */
  readonly slowMs?: number;
}

export interface BatchEntryErrors {
  readonly rate: number;
  readonly shape?: "independent" | "stopGroup";
}

/** `total` spread evenly over every error kind (plus `slow` at `slow`): the usual chaos setting. */
export function uniformFaultRates(total: number, slow = 0): FaultRates {
  const each = total / ERROR_FAULT_KINDS.length;
  return {
    ...Object.fromEntries(ERROR_FAULT_KINDS.map((k) => [k, each])),
    ...(slow > 0 ? { slow } : {}),
  };
}

/**
 * Per `service.Operation`: requests seen and faults injected by kind. A batch of statements
 * (`dynamodb.BatchExecuteStatement`) also counts its statements — each is billed as the write it is — and the
 * statement errors injected.
 */
export type FaultStats = Record<
  string,
  {
    requests: number;
    faults: Partial<Record<FaultKind, number>>;
    statements?: number;
    statementErrors?: Record<string, number>;
    entries?: number;
    entryErrors?: Record<string, number>;
    /**
     * Entries that landed after a refused entry of their MessageGroupId in the same call (the overtakes): those the
     * forwarded call's answer lists in `Successful`, so a call that failed as a whole adds none.
     */
    entriesPastRefused?: number;
  }
>;

/**
 * Decides, per request, whether and how it fails. Each service+operation has its own seeded PRNG stream, so a
 * given seed injects the same sequence of faults into the n-th call of each operation (the interleaving of
 * concurrent calls is up to the scheduler, as on AWS).
 */
export class FaultInjector {
  #policy: FaultPolicy;
  readonly #streams = new Map<string, () => number>();
  readonly #stats: FaultStats = {};

  constructor(policy: FaultPolicy) {
    this.#policy = validatePolicy(policy);
  }

  get timeoutMs(): number {
    return this.#policy.timeoutMs ?? 1000;
  }

  get slowMs(): number {
    return this.#policy.slowMs ?? 200;
  }

  /** Replaces the policy; the PRNG streams restart from the (new) seed. */
  setPolicy(policy: FaultPolicy): void {
    this.#policy = validatePolicy(policy);
    this.#streams.clear();
  }

  /** Whether (and how) this request fails; `variant` alternates a service's two spellings of an error. */
  decide(service: AwsService, operation: string): { kind: FaultKind; variant: number } | undefined {
    const name = `${service}.${operation}`;
    const stats = this.#statsOf(name);
    stats.requests++;
    const rates = this.#ratesFor(service, operation);
    if (!rates) return undefined;
    const draw = this.#streamOf(name)();
    let cumulative = 0;
    for (const kind of FAULT_KINDS) {
      cumulative += rates[kind] ?? 0;
      if (draw < cumulative) {
        const variant = stats.faults[kind] ?? 0;
        stats.faults[kind] = variant + 1;
        return { kind, variant };
      }
    }
    return undefined;
  }

  /**
   * One statement of a DynamoDB batch (`operation`, e.g. BatchExecuteStatement): counted, and the error code it
   * answers instead of being executed, if the policy's `statementErrors` draw one.
   */
  decideStatement(operation: string): string | undefined {
    const name = `dynamodb.${operation}`;
    const stats = this.#statsOf(name);
    stats.statements = (stats.statements ?? 0) + 1;
    const rates = this.#policy.statementErrors;
    if (!rates) return undefined;
    const draw = this.#streamOf(`${name}#statement`)();
    let cumulative = 0;
    for (const [code, rate] of Object.entries(rates)) {
      cumulative += rate;
      if (draw < cumulative) {
        stats.statementErrors = stats.statementErrors ?? {};
        stats.statementErrors[code] = (stats.statementErrors[code] ?? 0) + 1;
        return code;
      }
    }
    return undefined;
  }

  /**
   * The entries of one SQS batch (`operation`, e.g. SendMessageBatch), given by their MessageGroupId: per entry the
   * error code it is refused with (policy `batchEntryErrors`), or undefined when it goes through.
   */
  decideEntries(operation: string, groupIds: readonly (string | undefined)[]): (string | undefined)[] {
    const name = `sqs.${operation}`;
    const stats = this.#statsOf(name);
    stats.entries = (stats.entries ?? 0) + groupIds.length;
    const policy = this.#policy.batchEntryErrors;
    if (!policy || policy.rate <= 0) return groupIds.map(() => undefined);
    const stream = this.#streamOf(`${name}#entry`);
    const refusedGroups = new Set<string>();
    return groupIds.map((groupId) => {
      const draw = stream();
      const afterRefused = groupId !== undefined && refusedGroups.has(groupId);
      const refuse = (afterRefused && policy.shape === "stopGroup") || draw < policy.rate;
      if (!refuse) return undefined;
      if (groupId !== undefined) refusedGroups.add(groupId);
      const code = draw < policy.rate / 2 ? "InternalError" : "ServiceUnavailable";
      stats.entryErrors = stats.entryErrors ?? {};
      stats.entryErrors[code] = (stats.entryErrors[code] ?? 0) + 1;
      return code;
    });
  }

  /**
   * Entries of one SQS batch that landed after a refused entry of their group, counted from the forwarded call's
   * answer (its `Successful`), not from the draw: a forwarded call that fails as a whole lands none of them.
   */
  countEntriesPastRefused(operation: string, landed: number): void {
    if (landed <= 0) return;
    const stats = this.#statsOf(`sqs.${operation}`);
    stats.entriesPastRefused = (stats.entriesPastRefused ?? 0) + landed;
  }

  stats(): FaultStats {
    return structuredClone(this.#stats);
  }

  #statsOf(name: string): FaultStats[string] {
    let stats = this.#stats[name];
    if (!stats) {
      stats = { requests: 0, faults: {} };
      this.#stats[name] = stats;
    }
    return stats;
  }

  #streamOf(name: string): () => number {
    let stream = this.#streams.get(name);
    if (!stream) {
      stream = mulberry32(hashSeed(this.#policy.seed ?? 1, name));
      this.#streams.set(name, stream);
    }
    return stream;
  }

  #ratesFor(service: AwsService, operation: string): FaultRates | undefined {
    const perService = this.#policy.services?.[service];
    const perOperation = perService?.operations;
    if (perOperation && Object.hasOwn(perOperation, operation)) return perOperation[operation];
    return perService?.rates ?? this.#policy.rates;
  }
}

function validatePolicy(policy: FaultPolicy): FaultPolicy {
  const check = (where: string, rates: FaultRates | undefined) => {
    if (!rates) return;
    let sum = 0;
    for (const [kind, rate] of Object.entries(rates)) {
      if (!FAULT_KINDS.includes(kind as FaultKind)) throw new Error(`${where}: unknown fault kind "${kind}"`);
      if (typeof rate !== "number" || !(rate >= 0 && rate <= 1))
        throw new Error(`${where}.${kind}: a rate must be a number in [0, 1]`);
      sum += rate;
    }
    if (sum > 1 + 1e-9) throw new Error(`${where}: rates add up to ${sum}, more than 1`);
  };
  check("faults.rates", policy.rates);
  const statementRates = Object.values(policy.statementErrors ?? {});
  if (statementRates.some((rate) => typeof rate !== "number" || !(rate >= 0 && rate <= 1)))
    throw new Error("faults.statementErrors: a rate must be a number in [0, 1]");
  if (statementRates.reduce((a, b) => a + b, 0) > 1 + 1e-9)
    throw new Error("faults.statementErrors: rates add up to more than 1");
  const entryRate = policy.batchEntryErrors?.rate;
  if (entryRate !== undefined && (typeof entryRate !== "number" || !(entryRate >= 0 && entryRate <= 1)))
    throw new Error("faults.batchEntryErrors.rate: a rate must be a number in [0, 1]");
  const shape = policy.batchEntryErrors?.shape;
  if (shape !== undefined && shape !== "independent" && shape !== "stopGroup")
    throw new Error('faults.batchEntryErrors.shape: "independent" or "stopGroup"');
  for (const [service, faults] of Object.entries(policy.services ?? {})) {
    check(`faults.services.${service}.rates`, faults?.rates);
    for (const [op, rates] of Object.entries(faults?.operations ?? {}))
      check(`faults.services.${service}.operations.${op}`, rates);
  }
  return structuredClone(policy);
}

/**
 * The operation of a request: from `X-Amz-Target` (DynamoDB and SQS's JSON protocol), the `Action` of an SQS
 * query-protocol body, or the method and path of Scheduler's REST API.
 */
export function operationOf(
  service: AwsService,
  req: Pick<http.IncomingMessage, "headers" | "method" | "url">,
  body?: string,
): string {
  const target = String(req.headers["x-amz-target"] ?? "");
  if (target) return target.slice(target.lastIndexOf(".") + 1);
  if (service === "sqs" && body) {
    const action = /(?:^|&)Action=([A-Za-z]+)/.exec(body)?.[1];
    if (action) return action;
  }
  if (service === "scheduler") return schedulerOperation(req.method ?? "GET", req.url ?? "/");
  return "Unknown";
}

function schedulerOperation(method: string, url: string): string {
  const path = url.split("?")[0] ?? "/";
  const [resource, name] = path.split("/").filter(Boolean);
  const verb = method.toUpperCase();
  if (resource === "schedules" || resource === "schedule-groups") {
    const noun = resource === "schedules" ? "Schedule" : "ScheduleGroup";
    if (!name) return verb === "GET" ? `List${noun}s` : `${verb}${noun}s`;
    if (verb === "POST") return `Create${noun}`;
    if (verb === "PUT") return `Update${noun}`;
    if (verb === "DELETE") return `Delete${noun}`;
    return `Get${noun}`;
  }
  if (resource === "tags") {
    if (verb === "POST") return "TagResource";
    if (verb === "DELETE") return "UntagResource";
    return "ListTagsForResource";
  }
  return `${verb} /${resource ?? ""}`;
}

/** An error answer in the service's own wire shape, as its SDK parses it. */
export interface ErrorAnswer {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/**
 * The throttling (`throttle`) or server (`error`, `errorAfter`) answer of a service. `variant` picks between the
 * service's two spellings (e.g. DynamoDB's ProvisionedThroughputExceededException vs ThrottlingException), so
 * both code paths of the SDK's error parsing are exercised.
 */
export function errorAnswer(service: AwsService, kind: "throttle" | "error", variant: number): ErrorAnswer {
  const second = variant % 2 === 1;
  switch (service) {
    case "dynamodb":
      return dynamodbErrorAnswer(kind, second);
    case "sqs":
      return sqsErrorAnswer(kind, second);
    case "scheduler":
      return schedulerErrorAnswer(kind, second);
  }
}

function dynamodbErrorAnswer(kind: "throttle" | "error", second: boolean): ErrorAnswer {
  const answer = (status: number, type: string, message: string) => ({
    status,
    headers: { "content-type": "application/x-amz-json-1.0" },
    body: JSON.stringify({ __type: type, message }),
  });
  if (kind === "throttle") {
    return second
      ? answer(
          400,
          "com.amazon.coral.availability#ThrottlingException",
          "Rate of requests exceeds the allowed throughput.",
        )
      : answer(
          400,
          "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
          "The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API.",
        );
  }
  return second
    ? answer(
        503,
        "com.amazonaws.dynamodb.v20120810#ServiceUnavailable",
        "The service is currently unavailable or busy.",
      )
    : answer(500, "com.amazonaws.dynamodb.v20120810#InternalServerError", "Internal server error");
}

/** SQS's JSON protocol: the shape in `__type`, the legacy query code in x-amzn-query-error. */
function sqsErrorAnswer(kind: "throttle" | "error", second: boolean): ErrorAnswer {
  const answer = (status: number, code: string, fault: "Sender" | "Receiver", message: string) => ({
    status,
    headers: {
      "content-type": "application/x-amz-json-1.0",
      "x-amzn-query-error": `${code};${fault}`,
    },
    body: JSON.stringify({ __type: `com.amazonaws.sqs#${code}`, message }),
  });
  if (kind === "throttle") {
    // RequestThrottled is a 403: SQS's model (@aws-sdk/client-sqs, httpError 403) and SQS's own answers
    // (https://github.com/async-aws/aws/issues/1227); the SDK retries it by its name either way. ThrottlingException:
    // 400 (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/CommonErrors.html).
    return second
      ? answer(400, "ThrottlingException", "Sender", "Rate exceeded")
      : answer(403, "RequestThrottled", "Sender", "Request is throttled.");
  }
  return second
    ? answer(503, "ServiceUnavailable", "Receiver", "Service is unavailable. Try again later.")
    : // SQS's common 500 (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/CommonErrors.html).
      answer(500, "InternalFailure", "Receiver", "We encountered an internal error. Please try again.");
}

function schedulerErrorAnswer(kind: "throttle" | "error", second: boolean): ErrorAnswer {
  const answer = (status: number, type: string, message: string) => ({
    status,
    headers: { "content-type": "application/json", "x-amzn-errortype": type },
    body: JSON.stringify({ Message: message }),
  });
  if (kind === "throttle") return answer(429, "ThrottlingException", "Rate exceeded");
  return second
    ? answer(503, "ServiceUnavailableException", "Service unavailable")
    : answer(500, "InternalServerException", "Unexpected error");
}

/** mulberry32: a tiny, good-enough seeded PRNG in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** FNV-1a of the seed and a name: independent streams per name from one seed. */
export function hashSeed(seed: number, name: string): number {
  let h = (2166136261 ^ (seed >>> 0)) >>> 0;
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 16777619) >>> 0;
  }
  return h;
}
