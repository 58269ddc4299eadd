import { Duration, type RemovalPolicy, Validations } from "aws-cdk-lib";
import { AccessLogFormat } from "aws-cdk-lib/aws-apigateway";
import * as apigw from "aws-cdk-lib/aws-apigatewayv2";
import * as authorizers from "aws-cdk-lib/aws-apigatewayv2-authorizers";
import * as integrations from "aws-cdk-lib/aws-apigatewayv2-integrations";
import * as cloudwatch from "aws-cdk-lib/aws-cloudwatch";
import * as logs from "aws-cdk-lib/aws-logs";
import { Construct } from "constructs";
import type { PunctualConfig } from "#shared/config/index.js";
import { ENV } from "#shared/runtime/env.js";
import { API_FUNCTION_TIMEOUT_SECONDS, API_THROTTLE } from "../sizing.js";
import type { AlarmTopic } from "./alarm-topic.js";
import { PunctualFunction, type PunctualFunctionProps } from "./punctual-function.js";
import type { TaskTable } from "./task-table.js";
import type { TimerQueues } from "./timer-queues.js";
import type { TimerScheduler } from "./timer-scheduler.js";

export interface TaskApiProps {
  readonly config: PunctualConfig;
  readonly table: TaskTable;
  readonly timerQueues: TimerQueues;
  readonly timerScheduler: TimerScheduler;
  readonly alarms: AlarmTopic;
  readonly removalPolicy: RemovalPolicy;
  readonly logRetention: logs.RetentionDays;
}

/**
 * The HTTP API (API Gateway v2, payload format 2.0): `POST /v1/tasks`, `GET /v1/tasks/{id}` and
 * `DELETE /v1/tasks/{id}`, each served by its own function, and the `$default` route (every unmatched path or
 * method) served by the unmatched-route function, so those too answer the API's structured error body. Every route uses the configured default
 * authorizer — IAM (SigV4) unless the environment says JWT — and `api.auth: none` is refused at synth time for
 * every environment but `local`. The `$default` stage has default throttling and JSON access logs.
 */
export class TaskApi extends Construct {
  readonly httpApi: apigw.HttpApi;
  readonly stage: apigw.HttpStage;
  readonly addTaskFunction: PunctualFunction;
  readonly getTaskFunction: PunctualFunction;
  readonly cancelTaskFunction: PunctualFunction;
  readonly unmatchedRouteFunction: PunctualFunction;
  readonly accessLogs: logs.LogGroup;

  constructor(scope: Construct, id: string, props: TaskApiProps) {
    super(scope, id);
    const { config, table, timerQueues, timerScheduler, alarms } = props;
    // `none` never gets here outside the local environment: PunctualStack refuses it (deployment-guards.ts).
    const auth = config.api.auth;

    const common = {
      environmentName: config.name,
      logLevel: config.logLevel,
      timeout: Duration.seconds(API_FUNCTION_TIMEOUT_SECONDS),
      logRetention: props.logRetention,
      removalPolicy: props.removalPolicy,
    } as const;
    this.addTaskFunction = new PunctualFunction(this, "AddTaskFunction", {
      ...common,
      name: "add-task",
      description: `Punctual ${config.name}: POST /v1/tasks (store the task, arm its timer)`,
      environment: {
        [ENV.tableName]: table.tableName,
        [ENV.timerQueueUrl]: timerQueues.queue.queueUrl,
        [ENV.timerQueueArn]: timerQueues.queue.queueArn,
        [ENV.scheduleGroupName]: timerScheduler.group.scheduleGroupName,
        [ENV.schedulerRoleArn]: timerScheduler.role.roleArn,
        [ENV.scheduleDlqArn]: timerQueues.scheduleDeadLetterQueue.queueArn,
      },
    });
    table.grantStoreAccess(this.addTaskFunction, "add-task");
    timerQueues.queue.grantSendMessages(this.addTaskFunction);
    timerScheduler.grantArm(this.addTaskFunction);

    this.getTaskFunction = new PunctualFunction(this, "GetTaskFunction", {
      ...common,
      name: "get-task",
      description: `Punctual ${config.name}: GET /v1/tasks/{id}`,
      environment: { [ENV.tableName]: table.tableName },
    });
    table.grantStoreAccess(this.getTaskFunction, "get-task");

    this.cancelTaskFunction = new PunctualFunction(this, "CancelTaskFunction", {
      ...common,
      name: "cancel-task",
      description: `Punctual ${config.name}: DELETE /v1/tasks/{id} (cancel, delete its schedule)`,
      environment: {
        [ENV.tableName]: table.tableName,
        [ENV.scheduleGroupName]: timerScheduler.group.scheduleGroupName,
      },
    });
    table.grantStoreAccess(this.cancelTaskFunction, "cancel-task");
    timerScheduler.grantDisarm(this.cancelTaskFunction);

    this.httpApi = new apigw.HttpApi(this, "HttpApi", {
      description: `Punctual ${config.name} task API`,
      createDefaultStage: false,
      defaultAuthorizer: defaultAuthorizer(auth),
    });
    const routes: [string, apigw.HttpMethod, string, PunctualFunction][] = [
      ["/v1/tasks", apigw.HttpMethod.POST, "AddTask", this.addTaskFunction],
      ["/v1/tasks/{id}", apigw.HttpMethod.GET, "GetTask", this.getTaskFunction],
      ["/v1/tasks/{id}", apigw.HttpMethod.DELETE, "CancelTask", this.cancelTaskFunction],
    ];
    for (const [path, method, name, fn] of routes) {
      this.httpApi.addRoutes({
        path,
        methods: [method],
        integration: new integrations.HttpLambdaIntegration(name, fn),
      });
    }
    this.unmatchedRouteFunction = this.addDefaultRoute(
      common,
      config,
      routes.map(([path, method]) => `${method} ${path}`),
    );

    this.accessLogs = new logs.LogGroup(this, "AccessLogs", {
      retention: props.logRetention,
      removalPolicy: props.removalPolicy,
    });
    this.stage = new apigw.HttpStage(this, "DefaultStage", {
      httpApi: this.httpApi,
      stageName: "$default",
      autoDeploy: true,
      throttle: { ...API_THROTTLE },
      accessLogSettings: {
        destination: new apigw.LogGroupLogDestination(this.accessLogs),
        format: AccessLogFormat.custom(
          JSON.stringify({
            requestId: "$context.requestId",
            requestTime: "$context.requestTime",
            ip: "$context.identity.sourceIp",
            caller: "$context.identity.caller",
            user: "$context.identity.userArn",
            method: "$context.httpMethod",
            routeKey: "$context.routeKey",
            path: "$context.path",
            status: "$context.status",
            protocol: "$context.protocol",
            responseLength: "$context.responseLength",
            latencyMs: "$context.responseLatency",
            integrationLatencyMs: "$context.integrationLatency",
            integrationError: "$context.integrationErrorMessage",
            authorizerError: "$context.authorizer.error",
          }),
        ),
      },
    });

    if (auth.type === "none") {
      for (const route of this.node.findAll()) {
        if (route instanceof apigw.CfnRoute) {
          Validations.of(route).acknowledge({
            id: "AwsSolutions-APIG4",
            reason: `The "${config.name}" environment is the local cloud (127.0.0.1, no AWS account): its config declares api.auth "none", which synth refuses for every other environment.`,
          });
        }
      }
    }

    const label = `Punctual ${config.name} API`;
    alarms.alarm(this, "ServerErrorsAlarm", {
      metric: this.httpApi.metricServerError({
        period: Duration.minutes(5),
        statistic: cloudwatch.Stats.SUM,
      }),
      threshold: 1,
      description: `${label}: answered 5xx (bad input is always 4xx, so this is a fault: failed timer arming, a crash or a timeout).`,
    });
    alarms.watchFunction(this.addTaskFunction, `${label} add-task function`);
    alarms.watchFunction(this.getTaskFunction, `${label} get-task function`);
    alarms.watchFunction(this.cancelTaskFunction, `${label} cancel-task function`);
    alarms.watchFunction(this.unmatchedRouteFunction, `${label} unmatched-route function`);
  }

  /**
   * The `$default` route, behind the same authorizer as every other route: API Gateway sends it every request
   * no route matched, and would otherwise answer `{"message":"Not Found"}` itself. Its function answers our
   * structured 404, or 405 with `Allow` for a known path, from the route keys given here.
   */
  private addDefaultRoute(
    common: Omit<PunctualFunctionProps, "name" | "description">,
    config: PunctualConfig,
    routeKeys: readonly string[],
  ): PunctualFunction {
    const fn = new PunctualFunction(this, "UnmatchedRouteFunction", {
      ...common,
      name: "unmatched-route",
      description: `Punctual ${config.name}: answers unmatched paths (404) and methods (405) with the API's error body`,
      environment: { [ENV.apiRoutes]: JSON.stringify(routeKeys) },
    });
    new apigw.HttpRoute(this, "DefaultRoute", {
      httpApi: this.httpApi,
      routeKey: apigw.HttpRouteKey.DEFAULT,
      integration: new integrations.HttpLambdaIntegration("UnmatchedRoute", fn),
      ...(this.httpApi.defaultAuthorizer ? { authorizer: this.httpApi.defaultAuthorizer } : {}),
    });
    return fn;
  }

  /** The API's base URL (`https://<id>.execute-api.<region>.amazonaws.com/`). */
  get url(): string {
    return this.stage.url;
  }
}

function defaultAuthorizer(auth: PunctualConfig["api"]["auth"]): apigw.IHttpRouteAuthorizer | undefined {
  switch (auth.type) {
    case "iam":
      return new authorizers.HttpIamAuthorizer();
    case "jwt":
      return new authorizers.HttpJwtAuthorizer("JwtAuthorizer", auth.issuer, { jwtAudience: auth.audience });
    case "none":
      return undefined;
  }
}
