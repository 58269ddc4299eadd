/**
 * `/console/api/local`: what only the local cloud has to show, the Scheduler emulator's pending schedules (one
 * page, from the emulator's store through its Scheduler API, like any client would read them) and the timer
 * queue's depth (GetQueueAttributes).
 */
import { GetScheduleCommand, ListSchedulesCommand, type SchedulerClient } from "@aws-sdk/client-scheduler";
import { GetQueueAttributesCommand, type SQSClient } from "@aws-sdk/client-sqs";
import type { LocalQuery, LocalView } from "./schemas.js";
import { InvalidQueryError } from "./server.js";

export function localViewSource(options: {
  readonly scheduler: SchedulerClient;
  readonly sqs: SQSClient;
  readonly scheduleGroupName: string;
  readonly timerQueueUrl: string;
}) {
  return async (query: LocalQuery): Promise<LocalView> => {
    const [page, depth] = await Promise.all([
      options.scheduler
        .send(
          new ListSchedulesCommand({
            GroupName: options.scheduleGroupName,
            MaxResults: query.limit,
            ...(query.cursor ? { NextToken: query.cursor } : {}),
          }),
        )
        .catch((error: unknown) => {
          // The emulator's refusal of the token is the caller's mistake, not an upstream failure (a 502).
          if (query.cursor && (error as Error).name === "ValidationException")
            throw new InvalidQueryError("cursor", "not a cursor this endpoint gave");
          throw error;
        }),
      options.sqs.send(
        new GetQueueAttributesCommand({
          QueueUrl: options.timerQueueUrl,
          AttributeNames: [
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesDelayed",
            "ApproximateNumberOfMessagesNotVisible",
          ],
        }),
      ),
    ]);
    // ListSchedules has no times; one GetSchedule per listed schedule (a page at most) adds them.
    const schedules = await Promise.all(
      (page.Schedules ?? []).map(async (s) => {
        const detail = await options.scheduler
          .send(new GetScheduleCommand({ GroupName: options.scheduleGroupName, Name: s.Name }))
          .catch(() => undefined);
        return { name: s.Name ?? "", state: s.State ?? "", expression: detail?.ScheduleExpression ?? null };
      }),
    );
    const count = (name: keyof NonNullable<typeof depth.Attributes>) => Number(depth.Attributes?.[name] ?? 0);
    return {
      schedules,
      next_cursor: page.NextToken ?? null,
      timer_queue: {
        waiting: count("ApproximateNumberOfMessages"),
        delayed: count("ApproximateNumberOfMessagesDelayed"),
        in_flight: count("ApproximateNumberOfMessagesNotVisible"),
      },
    };
  };
}
