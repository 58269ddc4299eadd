/**
 * Every AWS figure the capacity planner uses, in one table: value, unit, and where it comes from — an AWS
 * documentation page, or `assumption: <why>` where the documentation gives no number (latencies, which depend on
 * the region and the payload, are the main ones; measure them with X-Ray and override them here).
 */
export type Source =
  | { readonly url: string; readonly note?: string }
  | { readonly assumption: string }
  | { readonly measured: string };

export interface Parameter {
  readonly value: number;
  readonly unit: string;
  readonly source: Source;
}

const SQS_SCALING = "https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html";
const POLLER_CONFIG = "https://docs.aws.amazon.com/lambda/latest/api/API_ProvisionedPollerConfig.html";
// The sentence was read on the China-region mirror of the same guide page (docs.amazonaws.cn/en_us/lambda/…), the
// copy our docs index holds.
const SQS_PARAMETERS = "https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-parameters.html";
const FIFO_THROTTLING =
  "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/troubleshooting-fifo-throttling-issues.html";
const SQS_MESSAGE_QUOTAS =
  "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-messages.html";
const SCHEDULER_QUOTAS = "https://docs.aws.amazon.com/scheduler/latest/UserGuide/scheduler-quotas.html";
const LATENCY = (what: string) => ({
  assumption: `typical in-region ${what} latency for a ≤ 1 KB item/message; not documented — measure with X-Ray and override`,
});
const PRICE = (page: string) => ({
  url: page,
  note: "us-east-1 list price as in docs/COST-AND-SCALE.md (late 2025)",
});

export const AWS_PARAMETERS = {
  // Lambda event source mappings for SQS (default mode).
  esmInitialBatches: {
    value: 5,
    unit: "concurrent batches",
    source: {
      url: SQS_SCALING,
      note: "standard queues: starts processing five batches at a time. The page gives no start or rate for FIFO queues (their concurrency is bounded by the active message groups); the model applies the standard queue's to a FIFO deliver mapping in default mode too, an assumption",
    },
  },
  esmScaleUpPerMinute: {
    value: 300,
    unit: "batches/min",
    source: { url: SQS_SCALING, note: "up to 300 more instances per minute" },
  },
  // The page's revision that documents provisioned mode for SQS (late 2025) reads 1,250 concurrent invokes; earlier
  // revisions read "1,000 batches", which this table carried until 2026-12-04.
  esmMaxBatches: {
    value: 1_250,
    unit: "concurrent batches",
    source: {
      url: SQS_SCALING,
      note: "standard queues: the maximum number of invokes an event source mapping can process simultaneously is 1,250",
    },
  },
  // Provisioned mode.
  provisionedMinPollers: {
    value: 2,
    unit: "pollers",
    source: { url: POLLER_CONFIG, note: "SQS: default and minimum 2" },
  },
  provisionedMaxPollersDefault: {
    value: 200,
    unit: "pollers",
    source: { url: POLLER_CONFIG, note: "SQS: default maximum 200" },
  },
  // SQS's own figure. POLLER_CONFIG's "approximately 5 MBps" per event poller was written when provisioned mode
  // served only Amazon MSK and self-managed Kafka; the SQS parameters page gives an SQS poller 1 MB/s.
  provisionedPollerThroughput: {
    value: 1,
    unit: "MB/s per poller",
    source: {
      url: SQS_PARAMETERS,
      note: "ProvisionedPollerConfig: each poller can handle up to 1 MB/s of throughput and 10 concurrent invokes",
    },
  },
  provisionedBatchesPerPoller: {
    value: 10,
    unit: "concurrent batches per poller",
    source: {
      url: SQS_PARAMETERS,
      note: "ProvisionedPollerConfig: each poller can handle up to 1 MB/s of throughput and 10 concurrent invokes",
    },
  },
  provisionedScaleUpPerMinute: {
    value: 1_000,
    unit: "batches/min",
    source: {
      url: "https://aws.amazon.com/blogs/aws/aws-lambda-enhances-sqs-processing-with-new-provisioned-mode-3x-faster-scaling-16x-higher-capacity",
      note: "event pollers can auto scale up to 1,000 concurrent executions per minute (SQS_SCALING says only '3 times faster'; this table read 3 × 300 = 900 until 2026-12-04)",
    },
  },
  provisionedPollerHourPrice: {
    value: 0.0125,
    unit: "$ per poller-hour",
    source: {
      assumption:
        "price per event poller unit not in the docs corpus; this value is a placeholder to check on https://aws.amazon.com/lambda/pricing/ before quoting",
    },
  },
  // Lambda.
  lambdaConcurrencyQuota: {
    value: 1_000,
    unit: "concurrent executions per account and region",
    source: { url: "https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html" },
  },
  lambdaScalingPer10s: {
    value: 1_000,
    unit: "new execution environments per function per 10 s",
    source: { url: "https://docs.aws.amazon.com/lambda/latest/dg/scaling-behavior.html" },
  },
  lambdaColdStartMs: {
    value: 300,
    unit: "ms",
    source: {
      assumption:
        "Lambda's runtime start (~150 ms, arm64 Node 22) plus our bundles' module init (50–80 ms measured by bench/functions.ts) plus the first SDK connection",
    },
  },
  apiGatewayMs: { value: 10, unit: "ms", source: LATENCY("API Gateway HTTP API overhead") },
  dynamoPutMs: { value: 6, unit: "ms", source: LATENCY("DynamoDB PutItem") },
  dynamoUpdateMs: { value: 7, unit: "ms", source: LATENCY("DynamoDB conditional UpdateItem") },
  dynamoQueryMs: { value: 7, unit: "ms", source: LATENCY("DynamoDB strongly consistent Query") },
  dynamoGetMs: { value: 5, unit: "ms", source: LATENCY("DynamoDB strongly consistent GetItem") },
  dynamoBatchGetMs: {
    value: 8,
    unit: "ms",
    source: LATENCY(
      "DynamoDB strongly consistent BatchGetItem of ≤ 10 items (read in parallel by the service)",
    ),
  },
  dynamoBatchStatementMs: {
    value: 12,
    unit: "ms",
    source: LATENCY(
      "DynamoDB BatchExecuteStatement of ≤ 10 conditional UPDATEs (each statement processed individually, in parallel)",
    ),
  },
  sqsSendMs: { value: 10, unit: "ms", source: LATENCY("SQS SendMessage") },
  sqsSendBatchMs: { value: 15, unit: "ms", source: LATENCY("SQS SendMessageBatch") },
  sqsReceiveMs: { value: 15, unit: "ms", source: LATENCY("SQS ReceiveMessage (messages waiting)") },
  sqsDeleteBatchMs: { value: 10, unit: "ms", source: LATENCY("SQS DeleteMessageBatch") },
  schedulerCreateMs: { value: 30, unit: "ms", source: LATENCY("EventBridge Scheduler CreateSchedule") },
  callbackMs: {
    value: 50,
    unit: "ms round trip",
    source: { assumption: "the receiver answers in 50 ms, as docs/COST-AND-SCALE.md assumes" },
  },
  // SQS.
  sqsMaxDelaySeconds: { value: 900, unit: "s", source: { url: SQS_MESSAGE_QUOTAS } },
  fifoTpsPerAction: {
    value: 300,
    unit: "API calls/s per action per queue (no high throughput)",
    source: { url: FIFO_THROTTLING },
  },
  fifoMessagesPerSecondBatched: {
    value: 3_000,
    unit: "messages/s per action per queue, batches of 10 (no high throughput)",
    source: { url: FIFO_THROTTLING },
  },
  fifoHighThroughputTps: {
    value: 70_000,
    unit: "API calls/s per action per queue (high throughput, us-east-1)",
    source: {
      url: SQS_MESSAGE_QUOTAS,
      note: "high throughput for FIFO queues, non-batched limits by region",
    },
  },
  fifoPerGroupTps: {
    value: 300,
    unit: "messages/s per message group",
    source: { url: SQS_MESSAGE_QUOTAS, note: "high-throughput mode keeps 300 TPS per message group ID" },
  },
  // DynamoDB.
  dynamoPartitionWcu: {
    value: 1_000,
    unit: "WCU/s per partition",
    source: {
      url: "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/warm-throughput-scenarios.html",
    },
  },
  dynamoTaskItemBytes: {
    value: 1_024,
    unit: "bytes per task item",
    source: {
      assumption:
        "a task item with a small payload (the seeds' sustained shape: 1 KB). A Query is billed on every item it reads, the projection and filter notwithstanding, its total size rounded up to 4 KB (read-write-operations.html): the relay's group read is billed by this",
    },
  },
  dynamoTableWru: {
    value: 40_000,
    unit: "WRU/s per on-demand table (default table quota)",
    source: { url: "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html" },
  },
  dynamoTableRru: {
    value: 40_000,
    unit: "RRU/s per on-demand table (default table quota)",
    source: { url: "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html" },
  },
  // EventBridge Scheduler.
  schedulerLateWindowSeconds: {
    value: 60,
    unit: "s",
    source: {
      assumption:
        "one-time schedules with FlexibleTimeWindow OFF fire within the minute after their at() time (observed; the docs give no bound) — what timer.leadSeconds absorbs",
    },
  },
  schedulerCreateTps: {
    value: 5_000,
    unit: "CreateSchedule/s (primary regions)",
    source: { url: SCHEDULER_QUOTAS },
  },
  schedulerInvocationsTps: {
    value: 1_000,
    unit: "target invocations/s (primary regions)",
    source: { url: SCHEDULER_QUOTAS },
  },
  apiGatewayRps: {
    value: 10_000,
    unit: "requests/s per account and region",
    source: { url: "https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html" },
  },
  // Prices.
  priceApiPerM: {
    value: 1.0,
    unit: "$ per M requests",
    source: PRICE("https://aws.amazon.com/api-gateway/pricing/"),
  },
  priceLambdaRequestPerM: {
    value: 0.2,
    unit: "$ per M",
    source: PRICE("https://aws.amazon.com/lambda/pricing/"),
  },
  priceLambdaGbSecond: {
    value: 0.0000133334,
    unit: "$ per GB-s arm64",
    source: PRICE("https://aws.amazon.com/lambda/pricing/"),
  },
  priceSqsStandardPerM: {
    value: 0.4,
    unit: "$ per M requests",
    source: PRICE("https://aws.amazon.com/sqs/pricing/"),
  },
  priceSqsFifoPerM: {
    value: 0.5,
    unit: "$ per M requests",
    source: PRICE("https://aws.amazon.com/sqs/pricing/"),
  },
  priceDynamoWruPerM: {
    value: 0.625,
    unit: "$ per M WRU",
    source: PRICE("https://aws.amazon.com/dynamodb/pricing/on-demand/"),
  },
  priceDynamoRruPerM: {
    value: 0.125,
    unit: "$ per M RRU",
    source: PRICE("https://aws.amazon.com/dynamodb/pricing/on-demand/"),
  },
  priceDynamoWcuHour: {
    value: 0.00065,
    unit: "$ per provisioned WCU-hour",
    source: {
      url: "https://aws.amazon.com/dynamodb/pricing/provisioned/",
      note: "us-east-1; the figure as quoted from that page by third-party sources (the excerpt in our docs corpus shows no number): check before quoting",
    },
  },
  priceDynamoRcuHour: {
    value: 0.00013,
    unit: "$ per provisioned RCU-hour",
    source: {
      url: "https://aws.amazon.com/dynamodb/pricing/provisioned/",
      note: "us-east-1; as priceDynamoWcuHour: check before quoting",
    },
  },
  priceSchedulerPerM: {
    value: 1.0,
    unit: "$ per M invocations",
    source: PRICE("https://aws.amazon.com/eventbridge/pricing/"),
  },
  lambdaMemoryGb: {
    value: 0.5,
    unit: "GB per function",
    source: {
      assumption:
        "relay and deliver memory in cdk/lib/sizing.ts (FUNCTION_MEMORY_MB); add-task 512 MB as docs/COST-AND-SCALE.md assumes",
    },
  },
} as const satisfies Record<string, Parameter>;

export type AwsParameterName = keyof typeof AWS_PARAMETERS;
