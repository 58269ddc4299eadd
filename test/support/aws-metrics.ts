/**
 * The metrics AWS services publish, each with the dimension sets AWS publishes it under, as documented (checked
 * 2026-12): a metric an alarm names that is not here — or a dimension set AWS does not publish for that metric — is
 * one no data point will ever reach, and the alarm stays INSUFFICIENT_DATA forever. The sets are per metric, not per
 * namespace: a namespace's dimensions do not combine freely (DynamoDB's ThrottledRequests exists per table and
 * operation, never per table alone; ConsumedWriteCapacityUnits per table or index, never per operation).
 *
 * Each set lists its dimension names sorted; `[]` is the service's aggregate over the account and Region.
 */
type DimensionSets = readonly (readonly string[])[];

/** namespace → metric name → the dimension sets AWS publishes that metric under. */
export type PublishedMetrics = Readonly<Record<string, Readonly<Record<string, DimensionSets>>>>;

const each = (metrics: readonly string[], sets: DimensionSets): Record<string, DimensionSets> =>
  Object.fromEntries(metrics.map((name) => [name, sets]));

// https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html: per function (FunctionName), per
// version or alias (Resource with it), per version run through an alias (ExecutedVersion with both: invocation and
// performance metrics only), and the account aggregate.
const LAMBDA_BY_FUNCTION: DimensionSets = [["FunctionName"], ["FunctionName", "Resource"], []];
const LAMBDA_BY_VERSION: DimensionSets = [
  ...LAMBDA_BY_FUNCTION,
  ["ExecutedVersion", "FunctionName", "Resource"],
];

// https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-available-cloudwatch-metrics.html:
// QueueName is the only dimension SQS sends: every metric, per queue only (no aggregate).
const SQS_BY_QUEUE: DimensionSets = [["QueueName"]];

// https://docs.aws.amazon.com/scheduler/latest/UserGuide/monitoring-cloudwatch.html: one dimension, ScheduleGroup
// (the default group for schedules created without one), beside the account aggregate — for every metric but
// InvocationThrottleCount, which the page's list of metrics gives without a dimension ("None"): Scheduler's
// invocation throttling applies the account's quota (scheduler-quotas.html), not a group's.
const SCHEDULER_BY_GROUP: DimensionSets = [["ScheduleGroup"], []];
const SCHEDULER_ACCOUNT_ONLY: DimensionSets = [[]];

// HTTP APIs: https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-metrics.html — per API and per
// API stage. The per-route set ({ApiId, Method, Resource, Stage}) is sent only with detailed metrics on
// (detailedMetricsEnabled), which the stack's stage leaves off; {ApiName, …} is a REST API's, never an HTTP API's.
const HTTP_API_BY_STAGE: DimensionSets = [["ApiId"], ["ApiId", "Stage"]];

// https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/metrics-dimensions.html — each metric names its
// own dimensions. Capacity and throttle events: per table, or per global secondary index (TableName +
// GlobalSecondaryIndexName; the TableName set leaves the indexes out). Request metrics: per table and operation.
// UserErrors: the account and Region only.
const DYNAMODB_BY_TABLE_OR_INDEX: DimensionSets = [["TableName"], ["GlobalSecondaryIndexName", "TableName"]];
const DYNAMODB_BY_OPERATION: DimensionSets = [["Operation", "TableName"]];

export const AWS_PUBLISHED_METRICS: PublishedMetrics = {
  "AWS/Lambda": {
    ...each(["Invocations", "Errors", "Throttles", "Duration", "ConcurrentExecutions"], LAMBDA_BY_VERSION),
    ...each(
      [
        "DeadLetterErrors",
        "DestinationDeliveryFailures",
        "AsyncEventAge",
        "AsyncEventsReceived",
        "AsyncEventsDropped",
      ],
      LAMBDA_BY_FUNCTION,
    ),
    // The account's concurrency left to functions without reserved concurrency: an account metric only.
    UnreservedConcurrentExecutions: [[]],
    // Event source mapping metrics (same page, "Event source mapping metrics"): per mapping, and only for a mapping
    // whose MetricsConfig asks for EventCount (test/cdk/relay-failures-alarm.test.ts checks the relay's does).
    ...each(
      [
        "PolledEventCount",
        "InvokedEventCount",
        "FilteredOutEventCount",
        "FailedInvokeEventCount",
        "DeletedEventCount",
      ],
      [["EventSourceMappingUUID"]],
    ),
  },
  "AWS/SQS": each(
    [
      "ApproximateAgeOfOldestMessage",
      "ApproximateNumberOfGroupsWithInflightMessages",
      "ApproximateNumberOfMessagesDelayed",
      "ApproximateNumberOfMessagesNotVisible",
      "ApproximateNumberOfMessagesVisible",
      "NumberOfEmptyReceives",
      "NumberOfDeduplicatedSentMessages",
      "NumberOfMessagesDeleted",
      "NumberOfMessagesReceived",
      "NumberOfMessagesSent",
      "SentMessageSize",
    ],
    SQS_BY_QUEUE,
  ),
  "AWS/Scheduler": {
    ...each(
      [
        "InvocationAttemptCount",
        "TargetErrorCount",
        "TargetErrorThrottledCount",
        "InvocationDroppedCount",
        "InvocationsSentToDeadLetterCount",
        "InvocationsFailedToBeSentToDeadLetterCount",
        "InvocationsSentToDeadLetterCount_Truncated_MessageSizeExceeded",
      ],
      SCHEDULER_BY_GROUP,
    ),
    InvocationThrottleCount: SCHEDULER_ACCOUNT_ONLY,
  },
  "AWS/ApiGateway": each(
    ["4xx", "5xx", "Count", "IntegrationLatency", "Latency", "DataProcessed"],
    HTTP_API_BY_STAGE,
  ),
  "AWS/DynamoDB": {
    ...each(
      [
        "ConsumedReadCapacityUnits",
        "ConsumedWriteCapacityUnits",
        "ReadThrottleEvents",
        "WriteThrottleEvents",
      ],
      DYNAMODB_BY_TABLE_OR_INDEX,
    ),
    ...each(
      ["ThrottledRequests", "SystemErrors", "SuccessfulRequestLatency", "ReturnedItemCount"],
      DYNAMODB_BY_OPERATION,
    ),
    ...each(
      ["ConditionalCheckFailedRequests", "TimeToLiveDeletedItemCount", "TransactionConflict"],
      [["TableName"]],
    ),
    UserErrors: [[]],
  },
};

/** The dimension sets AWS publishes `metric` of `namespace` under; none when it publishes no such metric. */
export function publishedDimensionSets(namespace: string, metric: string): DimensionSets {
  const service = Object.hasOwn(AWS_PUBLISHED_METRICS, namespace)
    ? AWS_PUBLISHED_METRICS[namespace]
    : undefined;
  return service && Object.hasOwn(service, metric) ? (service[metric] ?? []) : [];
}
