import { echoed } from "#shared/domain/echoed.js";
import { MAX_SUBSCRIBERS, SUBSCRIBER_ID_PATTERN } from "#shared/domain/fan-out.js";
import { MAX_DELAY_CEILING_SECONDS } from "#shared/domain/timing.js";
import { unmatchableHostPattern } from "#shared/security/ssrf.js";
import * as z from "#shared/zod.js";
import { type EventSourcesInput, eventSourcesSchema } from "./event-sources.js";
import { type FunctionsConfig, functionsSchema } from "./function-observability.js";
import { type TaskTableConfig, taskTableSchema } from "./table-capacity.js";

/** Topic names end up in queue names, metric dimensions and task ids, so they are kept short and plain. */
export const TOPIC_NAME_PATTERN = /^[a-z][a-z0-9-]{0,23}$/;
export const ENVIRONMENT_NAME_PATTERN = /^[a-z][a-z0-9-]{0,15}$/;

/** SQS caps a per-message delay at 900 s; the fine stage must stay strictly below it. */
export const MAX_TIMER_HORIZON_SECONDS = 840;
/**
 * The longest sweeper grace (`scheduledGraceSeconds`). A task whose timer is lost (a Scheduler firing that never
 * comes, a keyed add answered 503 and never retried) waits for the sweeper; a later task of its group due more than
 * the relay's 15-minute look-back after it (RELAY_LOOKBACK_MS) does not find it in its own group read, so the sweeper
 * must send it before that follower is due, or the follower is called first. It does so by the grace, plus what of
 * Scheduler's 60 s window the lead leaves, plus its 1-minute period and 50 s run: 600 + 60 + 60 + 50 = 770 s of the
 * 900, the rest for a run's retry and the hosts' clocks (test/unit/services/grace-lookback.test.ts).
 */
export const MAX_SCHEDULED_GRACE_SECONDS = 600;
/** SQS's maximum visibility timeout: backoff can never exceed it. */
export const MAX_VISIBILITY_SECONDS = 43_200;
/** Lambda's longest invocation: a deliver function changes a message's visibility at most this long after receipt. */
export const MAX_INVOCATION_SECONDS = 900;
/**
 * The longest backoff: SQS refuses a ChangeMessageVisibility whose timeout, counted from the receive that returned
 * the receipt handle, would pass 12 hours, and the deliver function sets the backoff up to one invocation after
 * that receive. 43,200 − 900 = 42,300 s holds whatever the function's timeout.
 */
export const MAX_BACKOFF_SECONDS = MAX_VISIBILITY_SECONDS - MAX_INVOCATION_SECONDS;
const BACKOFF_CAP_MESSAGE = `must be at most ${MAX_BACKOFF_SECONDS} s: SQS refuses a visibility change beyond 12 hours counted from receipt, and the deliver function may set it up to ${MAX_INVOCATION_SECONDS} s after receiving the message`;
/** DynamoDB items are limited to 400 KB and the task item carries metadata besides the content. */
export const MAX_PAYLOAD_BYTES = 350 * 1024;

const backoffSchema = z.strictObject({
  initialSeconds: z.number().check(z.gte(0), z.lte(MAX_BACKOFF_SECONDS, BACKOFF_CAP_MESSAGE)),
  maxSeconds: z.number().check(z.gte(0), z.lte(MAX_BACKOFF_SECONDS, BACKOFF_CAP_MESSAGE)),
  multiplier: z.number().check(z.gte(1), z.lte(10)),
  jitter: z.enum(["none", "equal", "full"]),
});

const alarmThresholdsSchema = z.strictObject({
  backlogAgeSeconds: z.number().check(z.int(), z.gte(1)),
  latenessP99Seconds: z.number().check(z.gt(0)),
  callbackLatencyP99Seconds: z.number().check(z.gt(0)),
});

/**
 * A host pattern in an allow-list: `*` (any public host), `example.com`, `*.example.com`, an IP literal
 * (`127.0.0.1`, `[::1]`) or `localhost`. Private, loopback, link-local and metadata addresses are refused
 * unless a pattern names them explicitly; `*` never admits them.
 */
const hostPatternSchema = z.string().check(
  z.minLength(1),
  z.maxLength(253),
  z.regex(
    /^(\*|(\*\.)?[a-z0-9.-]+|\[[0-9a-f:.]+\])$/i,
    // Aborting: a pattern of other characters gets this one reason, not the one below as well.
    { message: "must be '*', a host name, '*.domain' or an IP literal", abort: true },
  ),
  z.superRefine((pattern: string, ctx) => {
    const problem = unmatchableHostPattern(pattern);
    if (problem)
      ctx.addIssue({ code: "custom", message: `"${echoed(pattern)}" matches no callback host: ${problem}` });
  }),
);

const subscriberSchema = z.strictObject({
  id: z
    .string()
    .check(
      z.regex(
        SUBSCRIBER_ID_PATTERN,
        "a subscriber id is a slug: a lowercase letter, then letters, digits or '-', at most 32",
      ),
    ),
  url: z.url(),
});

export const topicSettingsSchema = z.strictObject({
  /** Name of the `content` field whose value forms the ordering group; absent → every task is its own group. */
  deliverBy: z.optional(z.string().check(z.minLength(1), z.maxLength(128))),
  maxAttempts: z.number().check(z.int(), z.gte(1), z.lte(100)),
  backoff: backoffSchema,
  callbackTimeoutSeconds: z.number().check(z.gte(1), z.lte(120)),
  /** Lambda event-source MaximumConcurrency for the topic's deliver function (AWS allows 2–1000). */
  maxConcurrency: z.number().check(z.int(), z.gte(2), z.lte(1000)),
  maxDelaySeconds: z.number().check(z.int(), z.gte(1), z.lte(MAX_DELAY_CEILING_SECONDS)),
  maxPayloadBytes: z.number().check(z.int(), z.gte(1), z.lte(MAX_PAYLOAD_BYTES)),
  retentionDays: z.number().check(z.gte(0.01), z.lte(365)),
  /**
   * Never empty: every callback (the request's, a service's, the default, each subscriber) must match an entry,
   * so an empty list would refuse every add and dead-letter the tasks in flight by policy, where a reader might
   * take it for "no restriction".
   */
  allowedCallbackHosts: z
    .array(hostPatternSchema)
    .check(
      z.minLength(
        1,
        "list at least one host pattern ('*' for any public host): an empty list refuses every callback, it does not lift the restriction",
      ),
    ),
  /** Plain-http callbacks; off everywhere but the local environment. */
  allowHttpCallbacks: z.boolean(),
  defaultCallbackUrl: z.optional(z.url()),
  alarms: alarmThresholdsSchema,
  /**
   * Hold the topic from the runtime settings (AppConfig): the sweeper disables the topic's deliver event source
   * mapping, as `POST /v1/topics/{topic}/pause` does (docs/RELIABILITY.md, "Topic settings without a deploy").
   */
  paused: z.boolean(),
  // --- issue 14 (breaker): protecting receivers (docs/CALLBACKS.md "Protecting receivers") ---
  /**
   * Callbacks started per second to one callback host (`host[:port]` of the URL), across every deliver
   * invocation of the topic: at most this many in each whole second. Absent = no limit and no extra AWS call.
   * At most 1,000: the second's counter is one DynamoDB item, and one item takes at most 1,000 writes/s.
   */
  rateLimit: z.optional(z.number().check(z.int(), z.gte(1), z.lte(1_000))),
  /** Callbacks in flight at once to one callback host, across every deliver invocation. Absent = no limit. */
  maxConcurrencyPerHost: z.optional(z.number().check(z.int(), z.gte(1), z.lte(50))),
  /**
   * A `429`/`503` with `Retry-After` postpones its group by the given time, at most this long (and never beyond
   * the backoff cap SQS allows); a longer delay waits this or the backoff step, whichever is longer.
   */
  retryAfterCapSeconds: z.number().check(z.int(), z.gte(0), z.lte(MAX_BACKOFF_SECONDS, BACKOFF_CAP_MESSAGE)),
  /** Consecutive failed attempts to one host that open its circuit. Absent = no circuit breaker. */
  circuitFailureThreshold: z.optional(z.number().check(z.int(), z.gte(1), z.lte(1_000))),
  /** How long an open circuit waits before one probe goes through (half-open). */
  circuitCooldownSeconds: z
    .number()
    .check(z.int(), z.gte(1), z.lte(MAX_BACKOFF_SECONDS, BACKOFF_CAP_MESSAGE)),
  // --- issue 14, point 3: fan-out (shared/domain/fan-out.ts; docs/API.md "Fan-out") ---
  /**
   * A fan-out topic: every task is delivered to each subscriber independently (its own delivery task). Each URL
   * passes the topic's callback policy (checkTopicSettings); ids are unique per topic. At most MAX_SUBSCRIBERS
   * (why: shared/domain/fan-out.ts).
   */
  subscribers: z.optional(
    z
      .array(subscriberSchema)
      .check(
        z.minLength(1, "declare at least one subscriber, or leave `subscribers` out"),
        z.maxLength(
          MAX_SUBSCRIBERS,
          `at most ${MAX_SUBSCRIBERS} subscribers per topic (each one is a task per task added)`,
        ),
      ),
  ),
});

export type TopicSettings = z.infer<typeof topicSettingsSchema>;

/**
 * Overrides: any row, nested sections field by field. `null` removes a row a topic may go without (a default
 * callback, grouping, a receiver protection, subscribers) that the system section or — in a runtime settings
 * document — the deployment set: leaving a row out keeps what is underneath.
 */
const settings = topicSettingsSchema.shape;
// Strict as topicSettingsSchema is: extend and partial keep its refusal of unknown rows.
export const topicOverridesSchema = z.partial(
  z.extend(topicSettingsSchema, {
    backoff: z.optional(z.partial(backoffSchema)),
    alarms: z.optional(z.partial(alarmThresholdsSchema)),
    deliverBy: z.nullable(settings.deliverBy.def.innerType),
    defaultCallbackUrl: z.nullable(settings.defaultCallbackUrl.def.innerType),
    rateLimit: z.nullable(settings.rateLimit.def.innerType),
    maxConcurrencyPerHost: z.nullable(settings.maxConcurrencyPerHost.def.innerType),
    circuitFailureThreshold: z.nullable(settings.circuitFailureThreshold.def.innerType),
    subscribers: z.nullable(settings.subscribers.def.innerType),
  }),
);

export type TopicOverrides = z.infer<typeof topicOverridesSchema>;

export const DEFAULT_SYSTEM_SETTINGS: TopicSettings = {
  maxAttempts: 8,
  backoff: { initialSeconds: 5, maxSeconds: 900, multiplier: 2, jitter: "equal" },
  callbackTimeoutSeconds: 10,
  maxConcurrency: 10,
  maxDelaySeconds: 365 * 86_400,
  maxPayloadBytes: 256 * 1024,
  retentionDays: 3,
  allowedCallbackHosts: ["*"],
  allowHttpCallbacks: false,
  alarms: { backlogAgeSeconds: 300, latenessP99Seconds: 1, callbackLatencyP99Seconds: 5 },
  paused: false,
  retryAfterCapSeconds: 3_600,
  circuitCooldownSeconds: 30,
};

const apiAuthSchema = z.discriminatedUnion("type", [
  z.strictObject({ type: z.literal("iam") }),
  z.strictObject({ type: z.literal("none") }),
  z.strictObject({
    type: z.literal("jwt"),
    issuer: z.url(),
    audience: z.array(z.string().check(z.minLength(1))).check(z.minLength(1)),
    /**
     * The scopes a token needs per route key (`"POST /v1/tasks"`), `"*"` for every route not named; a token
     * holding any one of a route's scopes may call it. Without scopes any token for the audience may call every
     * route. The keys are checked against the route table at synth (cdk/lib/deployment-guards.ts).
     */
    scopes: z.optional(
      z.record(
        z.string(),
        z
          .array(z.string().check(z.regex(/^[\x21-\x7e]+$/, "a scope is visible ASCII without spaces")))
          .check(z.minLength(1)),
      ),
    ),
  }),
]);

const timerSchema = z.strictObject({
  /** Tasks due within this many seconds go straight to the timer queue with a per-message delay. */
  horizonSeconds: z.number().check(z.int(), z.gte(0), z.lte(MAX_TIMER_HORIZON_SECONDS)),
  /** Schedules fire this long before the due time so Scheduler's up-to-60 s late firing is absorbed. */
  leadSeconds: z.number().check(z.int(), z.gte(0), z.lte(3_600)),
  scheduleRetry: z.strictObject({
    maximumRetryAttempts: z.number().check(z.int(), z.gte(0), z.lte(185)),
    maximumEventAgeSeconds: z.number().check(z.int(), z.gte(60), z.lte(86_400)),
  }),
});

/**
 * The orphan sweeper (shared/services/sweeper.ts): how long a task may sit without progress before the sweeper
 * repairs it itself. Normally only the grace and the margin are set; the stall window is computed per topic.
 */
const sweeperSchema = z.strictObject({
  /**
   * A task still `scheduled` this long after its due time has lost its timer (Scheduler's firing window is
   * added for tasks that rode a schedule): the sweeper forwards it itself.
   */
  scheduledGraceSeconds: z
    .number()
    .check(
      z.int(),
      z.gte(0),
      z.lte(
        MAX_SCHEDULED_GRACE_SECONDS,
        `must be at most ${MAX_SCHEDULED_GRACE_SECONDS} s: a task the sweeper sends later than the relay's 15-minute look-back can be called after a later task of its group`,
      ),
    ),
  /**
   * Added to a topic's longest legitimate pause between two delivery attempts (backoff cap or visibility
   * timeout, plus a deliver invocation): a `queued`/`delivering` group head idle longer than that is re-sent.
   */
  stallMarginSeconds: z.number().check(z.int(), z.gte(0), z.lte(86_400)),
  /**
   * Put every unfinished task in the sweep index, not only those off the near-term happy path (issue 13.2). Off
   * by default: a near-term task's timer message is durable in SQS from the moment add-task answers, and every
   * way it can leave its queues without being delivered puts the task in the index (shared/domain/sweep.ts).
   * On: two index writes more per near-term task (≈ $1.25 per million), for protection against what the
   * default does not cover — a message purged by hand, or one that outlives its queue's retention (a topic
   * paused for longer than that).
   */
  indexNearTermTasks: z.optional(z.boolean()),
  /** A fixed stall window instead of the computed one (the local cloud's tests shrink it). */
  stalledAfterSeconds: z.optional(z.number().check(z.int(), z.gte(1), z.lte(7 * 86_400))),
});

/**
 * A section only the stack acts on (event source mappings, table capacity, Lambda tracing and logging), in a
 * deployed bundle. `cdk synth` validated it with its schema before bundling this very environment file; a bundle
 * carries that file alone (environments/index.ts), and the only overrides it honours, a `local` stack's, are the
 * ones synth loaded it with (cdk/lib/punctual-stack.ts). A cold start would re-check what cannot have changed, so
 * there the section is taken as it is: esbuild folds the define (cdk/lib/bundling.ts, bundledEnvironmentDefine) and
 * leaves the section schemas, built only when called, out of every function (−4.2 KB each). Unbundled (the CDK
 * app, the local cloud, the tests) the full schemas run. Either way the cross-section rules in parseConfig
 * (load.ts) run; and these schemas neither default nor transform, so a valid section comes out as it went in.
 */
function checkedAtSynth<T extends z.core.$ZodType>(): T {
  return z.custom() as unknown as T;
}

export const environmentConfigSchema = z.strictObject({
  name: z.string().check(z.regex(ENVIRONMENT_NAME_PATTERN, "lowercase letters, digits and '-', at most 16")),
  /** Optional deployment target; without it the CLI's account and region are used. */
  account: z.optional(z.string().check(z.regex(/^\d{12}$/))),
  region: z.optional(z.string().check(z.minLength(1))),
  api: z.strictObject({ auth: apiAuthSchema }),
  timer: timerSchema,
  sweeper: sweeperSchema,
  /** The relay's and the deliver functions' SQS event source mappings (shared/config/event-sources.ts). */
  eventSources: process.env.PUNCTUAL_BUNDLED_ENVIRONMENT
    ? checkedAtSynth<ReturnType<typeof eventSourcesSchema>>()
    : eventSourcesSchema(),
  /** The task table's capacity mode: on-demand, or provisioned with auto scaling (shared/config/table-capacity.ts). */
  taskTable: process.env.PUNCTUAL_BUNDLED_ENVIRONMENT
    ? checkedAtSynth<ReturnType<typeof taskTableSchema>>()
    : taskTableSchema(),
  /** Every function's X-Ray tracing mode and Lambda log format/levels (shared/config/function-observability.ts). */
  functions: process.env.PUNCTUAL_BUNDLED_ENVIRONMENT
    ? checkedAtSynth<ReturnType<typeof functionsSchema>>()
    : functionsSchema(),
  system: topicSettingsSchema,
  topics: z.record(
    z.string().check(z.regex(TOPIC_NAME_PATTERN, "lowercase letters, digits and '-', at most 24")),
    topicOverridesSchema,
  ),
  /** Seed-style callbacks: `content.sn` names a service whose base URL `content.url` is resolved against. */
  services: z.record(z.string().check(z.minLength(1), z.maxLength(64)), z.url()),
  alarmSubscribers: z.strictObject({
    emails: z.array(z.email()),
    httpsUrls: z.array(z.url().check(z.startsWith("https://"))),
  }),
  removalPolicy: z.enum(["retain", "destroy"]),
  pointInTimeRecovery: z.boolean(),
  logLevel: z.enum(["DEBUG", "INFO", "WARN", "ERROR"]),
});

export type EnvironmentConfig = z.infer<typeof environmentConfigSchema>;

/** What an environment file may leave out: every section falls back to the built-in defaults. */
export interface EnvironmentConfigInput {
  readonly name: string;
  readonly account?: string;
  readonly region?: string;
  readonly api?: { readonly auth: EnvironmentConfig["api"]["auth"] };
  readonly timer?: Partial<EnvironmentConfig["timer"]>;
  readonly sweeper?: Partial<EnvironmentConfig["sweeper"]>;
  readonly eventSources?: EventSourcesInput;
  readonly taskTable?: TaskTableConfig;
  readonly functions?: Partial<FunctionsConfig>;
  readonly system?: TopicOverrides;
  readonly topics: Record<string, TopicOverrides>;
  readonly services?: Record<string, string>;
  readonly alarmSubscribers?: Partial<EnvironmentConfig["alarmSubscribers"]>;
  readonly removalPolicy?: EnvironmentConfig["removalPolicy"];
  readonly pointInTimeRecovery?: boolean;
  readonly logLevel?: EnvironmentConfig["logLevel"];
}

/**
 * A topic whose deliveries may wait for their destination (rate limit, per-host concurrency, circuit breaker):
 * its queue's receive limit is sized for the waits (cdk/lib/sizing.ts), and only such a topic may change these
 * rows at runtime (shared/config/runtime-settings.ts).
 */
export function isProtectedTopic(
  topic: Pick<TopicSettings, "rateLimit" | "maxConcurrencyPerHost" | "circuitFailureThreshold">,
): boolean {
  return (
    topic.rateLimit !== undefined ||
    topic.maxConcurrencyPerHost !== undefined ||
    topic.circuitFailureThreshold !== undefined
  );
}
