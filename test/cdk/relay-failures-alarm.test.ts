/**
 * A relay that fails every timer message it receives must page. It never throws for a failed forward (a DynamoDB or
 * SQS error, a refused send): it reports the records in `batchItemFailures` and backs them off, so the function's
 * Errors alarm sees nothing. Nor does the timer queue's age alarm: on a standard queue SQS moves a message received
 * three or more times and not deleted to the back of the queue, and ApproximateAgeOfOldestMessage leaves such
 * messages out until they are processed
 * (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-available-cloudwatch-metrics.html),
 * which the relay's 1, 2, 4 … s backoff reaches within seconds. The failures stayed silent until the timer DLQ
 * (28–55 minutes of retries) and the sweeper's repair. What does count them is the relay mapping's
 * FailedInvokeEventCount (any record of a response with a non-empty BatchItemFailures), which Lambda publishes per
 * EventSourceMappingUUID only when the mapping's MetricsConfig asks for EventCount.
 */
import { describe, expect, it } from "vitest";
import { type Json, synthesized } from "../support/published-metrics.js";

describe("relay failures alarm", () => {
  for (const env of ["dev", "staging", "prod"]) {
    it(`${env}: an alarm watches the relay mapping's failed records, which the mapping publishes`, () => {
      // Prepare
      const { stack, resources } = synthesized(env);
      const relayName = JSON.stringify(stack.resolve(stack.timerQueues.relayFunction.functionName));
      const [mappingId, mapping] = Object.entries(resources).find(
        ([, r]) =>
          r.Type === "AWS::Lambda::EventSourceMapping" &&
          JSON.stringify(r.Properties.FunctionName) === relayName,
      ) ?? [undefined, undefined];

      // Act
      const alarms = Object.values(resources).filter(
        (r: Json) =>
          r.Type === "AWS::CloudWatch::Alarm" &&
          r.Properties.Namespace === "AWS/Lambda" &&
          r.Properties.MetricName === "FailedInvokeEventCount",
      );

      // Assess
      expect(mappingId, "the relay's event source mapping").toBeDefined();
      expect(mapping.Properties.MetricsConfig).toEqual({ Metrics: ["EventCount"] });
      expect(alarms).toHaveLength(1);
      const alarm = alarms[0].Properties;
      expect(alarm.Dimensions).toEqual([{ Name: "EventSourceMappingUUID", Value: { Ref: mappingId } }]);
      expect(alarm.Statistic).toBe("Sum");
      expect(alarm.Threshold).toBe(1);
      expect(alarm.ComparisonOperator).toBe("GreaterThanOrEqualToThreshold");
      expect(alarm.AlarmActions).toBeDefined();
    });
  }
});
