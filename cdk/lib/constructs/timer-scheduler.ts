import { Duration, Fn, type RemovalPolicy, Stack, Validations } from "aws-cdk-lib";
import * as cloudwatch from "aws-cdk-lib/aws-cloudwatch";
import * as iam from "aws-cdk-lib/aws-iam";
import * as scheduler from "aws-cdk-lib/aws-scheduler";
import { flattenCfnReference } from "cdk-nag/lib/utils/flatten-cfn-reference.js";
import { Construct } from "constructs";
import type { PunctualConfig } from "#shared/config/index.js";
import type { AlarmTopic } from "./alarm-topic.js";
import { grantQueueKey } from "./queue-defaults.js";
import type { TimerQueues } from "./timer-queues.js";

export interface TimerSchedulerProps {
  readonly config: PunctualConfig;
  readonly timerQueues: TimerQueues;
  readonly alarms: AlarmTopic;
  readonly removalPolicy: RemovalPolicy;
}

/**
 * The coarse stage of the two-stage timer: the environment's EventBridge Scheduler schedule group (add-task
 * creates one-time `at()` schedules in it at `due − lead`) and the execution role those schedules run as.
 *
 * The role may only be assumed by EventBridge Scheduler on behalf of this account's schedule group, and may
 * only `sqs:SendMessage` to the timer queue (the schedules' target) and to the schedule dead-letter queue
 * (AWS requires the execution role to be able to deliver dead-letter events to the schedule's DLQ). Both
 * queues use SSE-SQS, which needs no KMS permission; a queue given a customer managed key gives the role its
 * sender's key actions (`grantQueueKey`: Scheduler sends with the role's credentials, so KMS asks the role too).
 */
export class TimerScheduler extends Construct {
  readonly group: scheduler.ScheduleGroup;
  readonly role: iam.Role;

  constructor(scope: Construct, id: string, props: TimerSchedulerProps) {
    super(scope, id);
    const { config, timerQueues, alarms } = props;
    const stack = Stack.of(this);

    this.group = new scheduler.ScheduleGroup(this, "Group", {
      scheduleGroupName: uniqueGroupName(stack),
      removalPolicy: props.removalPolicy,
    });

    this.role = new iam.Role(this, "Role", {
      description: `Punctual ${config.name}: EventBridge Scheduler execution role (timer schedules to the timer queue)`,
      assumedBy: new iam.ServicePrincipal("scheduler.amazonaws.com", {
        conditions: {
          StringEquals: {
            "aws:SourceAccount": stack.account,
            "aws:SourceArn": this.group.scheduleGroupArn,
          },
        },
      }),
    });
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: "SendTimersAndDeadLetters",
        actions: ["sqs:SendMessage"],
        resources: [timerQueues.queue.queueArn, timerQueues.scheduleDeadLetterQueue.queueArn],
      }),
    );
    grantQueueKey(timerQueues.queue, this.role, "send");
    grantQueueKey(timerQueues.scheduleDeadLetterQueue, this.role, "send");

    const label = `Punctual ${config.name} schedule group`;
    const metric = (metricName: string) =>
      this.group.metric(metricName, { period: Duration.minutes(5), statistic: cloudwatch.Stats.SUM });
    alarms.alarm(this, "TargetErrorsAlarm", {
      metric: metric("TargetErrorCount"),
      threshold: 1,
      description: `${label}: the timer queue refused schedule firings (TargetErrorCount); Scheduler retries, but check the role and the queue.`,
    });
    alarms.alarm(this, "DroppedInvocationsAlarm", {
      metric: metric("InvocationDroppedCount"),
      threshold: 1,
      description: `${label}: Scheduler dropped firings after exhausting its retry policy (InvocationDroppedCount): their tasks go out late, forwarded by the sweeper once past due by its grace (scheduledGraceSeconds); check the scheduler role and the timer queue.`,
    });
    alarms.alarm(this, "DeadLetterFailuresAlarm", {
      metric: metric("InvocationsFailedToBeSentToDeadLetterCount"),
      threshold: 1,
      description: `${label}: failed firings could not be written to the schedule dead-letter queue either: their tasks go out late, forwarded by the sweeper once past due by its grace (scheduledGraceSeconds); check the scheduler role's sqs:SendMessage on that queue.`,
    });
  }

  /** `arn:…:scheduler:<region>:<account>:schedule/<group>/*` — every schedule of this group, nothing else. */
  get scheduleArnPattern(): string {
    return Stack.of(this).formatArn({
      service: "scheduler",
      resource: "schedule",
      resourceName: `${this.group.scheduleGroupName}/*`,
    });
  }

  /**
   * add-task: create schedules in this group, passing only the scheduler role, and read one back: a
   * ConflictException on create is confirmed with GetSchedule as this task's timer before it counts as armed
   * (shared/adapters/task-scheduler.ts). Not delete: the add path never deletes one (its scheduler is
   * `Pick<TaskScheduler, "createTaskSchedule">`), and DeleteSchedule on the group would let it remove any pending
   * task's timer. Nor UpdateSchedule, for the same reason (it could postpone or disable one): the task's own
   * schedule found moved past due is taken as it is, the sweeper bounding its lateness (docs/RELIABILITY.md, "A
   * CreateSchedule conflict…"). A function that also deletes takes `grantDisarm` as well.
   */
  grantArm(grantee: iam.IGrantable): void {
    iam.Grant.addToPrincipal({
      grantee,
      actions: ["scheduler:CreateSchedule", "scheduler:GetSchedule"],
      resourceArns: [this.scheduleArnPattern],
    });
    iam.Grant.addToPrincipal({
      grantee,
      actions: ["iam:PassRole"],
      resourceArns: [this.role.roleArn],
      conditions: { StringEquals: { "iam:PassedToService": "scheduler.amazonaws.com" } },
    });
    this.suppressScheduleWildcard(grantee);
  }

  /** cancel-task: delete schedules in this group, nothing more. */
  grantDisarm(grantee: iam.IGrantable): void {
    iam.Grant.addToPrincipal({
      grantee,
      actions: ["scheduler:DeleteSchedule"],
      resourceArns: [this.scheduleArnPattern],
    });
    this.suppressScheduleWildcard(grantee);
  }

  private suppressScheduleWildcard(grantee: iam.IGrantable): void {
    const role = grantee.grantPrincipal;
    if (!(role instanceof iam.Role)) return;
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${this.scheduleArnFinding}]`,
      reason:
        "One schedule per task, named after the task id at runtime, so the names cannot be listed at deploy time. The wildcard is confined to this environment's own schedule group (schedule/<group>/*).",
    });
  }

  /**
   * How cdk-nag spells `scheduleArnPattern` in an IAM5 finding, computed with cdk-nag's own flattening so the
   * acknowledgement names exactly this finding (the region is literal when the stack has one, else a token).
   */
  private get scheduleArnFinding(): string {
    return flattenCfnReference(Stack.of(this).resolve(this.scheduleArnPattern));
  }
}

/**
 * `<stack name>-<the stack's UUID>`: unique to each creation of the stack (at most 25 + 1 + 36 = 62 of the 64
 * characters Scheduler allows), stable for its whole life.
 *
 * Why not a fixed name: with `removalPolicy: retain` the group outlives a deleted stack, and re-creating the stack
 * under the same fixed name fails with "already exists". Why keep retaining it rather than DESTROY: deleting a
 * group deletes every schedule in it, i.e. the only trace of each not-yet-due task's timer; a retained group keeps
 * them listable for an operator recovering a stack deleted by mistake (docs/RELIABILITY.md, "Deleting and
 * re-creating a stack"). The new stack's tasks live in a new group; the old one can be deleted by hand.
 */
function uniqueGroupName(stack: Stack): string {
  const stackUuid = Fn.select(2, Fn.split("/", stack.stackId));
  return Fn.join("-", [stack.stackName, stackUuid]);
}
