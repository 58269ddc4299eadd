/**
 * The metrics AWS services publish, with the dimensions they publish them under, as documented (checked
 * 2026-11): a metric an alarm names that is not here — or a dimension set AWS does not publish — is one no data
 * point will ever reach, and the alarm stays INSUFFICIENT_DATA forever.
 *
 * - AWS/Lambda: https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html
 * - AWS/SQS: https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-available-cloudwatch-metrics.html
 * - AWS/Scheduler: https://docs.aws.amazon.com/scheduler/latest/UserGuide/monitoring-cloudwatch.html
 * - AWS/ApiGateway (HTTP APIs): https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-metrics.html
 * - AWS/DynamoDB: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/metrics-dimensions.html
 */
export interface PublishedMetrics {
  readonly metrics: readonly string[];
  /** Each dimension set the service publishes these metrics under (sorted names). */
  readonly dimensionSets: readonly (readonly string[])[];
}

export const AWS_PUBLISHED_METRICS: Readonly<Record<string, PublishedMetrics>> = {
  "AWS/Lambda": {
    metrics: [
      "Invocations",
      "Errors",
      "Throttles",
      "Duration",
      "ConcurrentExecutions",
      "DeadLetterErrors",
      "DestinationDeliveryFailures",
      "AsyncEventAge",
      "AsyncEventsDropped",
    ],
    dimensionSets: [["FunctionName"], ["FunctionName", "Resource"], []],
  },
  "AWS/SQS": {
    metrics: [
      "ApproximateAgeOfOldestMessage",

      "ApproximateNumberOfMessagesDelayed",
      "ApproximateNumberOfMessagesNotVisible",
      "ApproximateNumberOfMessagesVisible",
      "NumberOfEmptyReceives",
      "NumberOfMessagesDeleted",
      "NumberOfMessagesReceived",
      "NumberOfMessagesSent",
      "SentMessageSize",
    ],
    dimensionSets: [["QueueName"]],
  },
  "AWS/Scheduler": {
    metrics: [
      "InvocationAttemptCount",
      "TargetErrorCount",
      "TargetErrorThrottledCount",
      "InvocationThrottleCount",
      "InvocationDroppedCount",
      "InvocationsSentToDeadLetterCount",
      "InvocationsFailedToBeSentToDeadLetterCount",
      "InvocationsSentToDeadLetterCount_Truncated_MessageSizeExceeded",
    ],
    dimensionSets: [["ScheduleGroup"], []],
  },
  // HTTP APIs. Per route ({ApiId, Route, Stage}) only with detailed metrics on, which the stack's stage leaves off;
  // {Method, Resource, Stage} under ApiName is a REST API's set, never an HTTP API's.
  "AWS/ApiGateway": {
    metrics: ["4xx", "5xx", "Count", "IntegrationLatency", "Latency", "DataProcessed"],
    dimensionSets: [["ApiId"], ["ApiId", "Stage"]],
  },
  "AWS/DynamoDB": {
    metrics: [
      "ConsumedReadCapacityUnits",
      "ConsumedWriteCapacityUnits",
      "ReadThrottleEvents",
      "WriteThrottleEvents",
      "ThrottledRequests",
      "SystemErrors",
      "UserErrors",
      "SuccessfulRequestLatency",
    ],
    dimensionSets: [["TableName"], ["Operation", "TableName"], ["GlobalSecondaryIndexName", "TableName"], []],
  },
};
