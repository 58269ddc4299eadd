import { Duration, type RemovalPolicy, Stack, Validations } from "aws-cdk-lib";
import { AccessLogFormat } from "aws-cdk-lib/aws-apigateway";
import * as apigw from "aws-cdk-lib/aws-apigatewayv2";
import * as authorizers from "aws-cdk-lib/aws-apigatewayv2-authorizers";
import * as integrations from "aws-cdk-lib/aws-apigatewayv2-integrations";
import * as cloudwatch from "aws-cdk-lib/aws-cloudwatch";
import * as iam from "aws-cdk-lib/aws-iam";
import * as logs from "aws-cdk-lib/aws-logs";
import { Construct } from "constructs";
import {
  API_ROUTES,
  type ApiRouteName,
  type ApiRouteRow,
  DEFAULT_ROUTE,
  type RouteGrant,
  routeVariables,
} from "#shared/api/routes.js";
import type { PunctualConfig } from "#shared/config/index.js";
import type { TopologyInput, TopologySection } from "#shared/contract/topology.js";
import { ENV, type EnvName } from "#shared/runtime/env.js";
import { API_FUNCTION_TIMEOUT_SECONDS, API_THROTTLE } from "../sizing.js";
import type { AlarmTopic } from "./alarm-topic.js";
import {
  environmentFunctionProps,
  PunctualFunction,
  type PunctualFunctionProps,
} from "./punctual-function.js";
import { grantSendOnly } from "./queue-defaults.js";
import type { RuntimeSettings } from "./runtime-settings.js";
import type { TaskTable } from "./task-table.js";
import type { TimerQueues } from "./timer-queues.js";
import type { TimerScheduler } from "./timer-scheduler.js";
import { type Topic, topicQueueNames } from "./topic.js";
import { grantTopicSwitch } from "./topic-switch.js";

export interface TaskApiProps {
  readonly config: PunctualConfig;
  readonly table: TaskTable;
  readonly timerQueues: TimerQueues;
  readonly timerScheduler: TimerScheduler;
  readonly alarms: AlarmTopic;
  /**
   * The configured topics: the topic routes (pause, resume, list, show) act on their mappings and queues, the
   * replay routes send to their FIFO queues (`topic-queues:send`).
   */
  readonly topics: readonly Topic[];
  /** The runtime topic settings (AppConfig), for rows with the `topic-settings:read` grant. */
  readonly runtimeSettings: RuntimeSettings;
  readonly removalPolicy: RemovalPolicy;
  readonly logRetention: logs.RetentionDays;
}

/**
 * The HTTP API (API Gateway v2, payload format 2.0): one route and one function per row of the route table
 * (shared/api/routes.ts), each function given the variables and permissions its row's grants name, and the
 * `$default` route (every unmatched path or method) served by the unmatched-route function, so those too answer
 * the API's structured error body. Every route uses the configured default
 * authorizer — IAM (SigV4) unless the environment says JWT — and `api.auth: none` is refused at synth time for
 * every environment but `local`. The `$default` stage has default throttling and JSON access logs.
 */
export class TaskApi extends Construct {
  readonly httpApi: apigw.HttpApi;
  readonly stage: apigw.HttpStage;
  /** Each route's function by its row's name (shared/api/routes.ts), the `$default` route's included. */
  readonly functions: Readonly<Record<ApiRouteName, PunctualFunction>>;
  readonly accessLogs: logs.LogGroup;

  constructor(scope: Construct, id: string, props: TaskApiProps) {
    super(scope, id);
    const { config } = props;
    // `none` never gets here outside the local environment: PunctualStack refuses it (deployment-guards.ts).
    const auth = config.api.auth;

    this.httpApi = new apigw.HttpApi(this, "HttpApi", {
      description: `Punctual ${config.name} task API`,
      createDefaultStage: false,
      defaultAuthorizer: defaultAuthorizer(auth),
    });
    this.functions = this.addRoutes(props);
    this.accessLogs = new logs.LogGroup(this, "AccessLogs", {
      retention: props.logRetention,
      removalPolicy: props.removalPolicy,
    });
    this.stage = addDefaultStage(this);
    if (auth.type === "none") acknowledgeUnauthenticatedRoutes(this, config.name);
    addApiAlarms(this, props);
  }

  /** One route and function per row of the route table, then the `$default` route. */
  private addRoutes(props: TaskApiProps): Record<ApiRouteName, PunctualFunction> {
    const { config } = props;
    const common = {
      ...environmentFunctionProps(config),
      logRetention: props.logRetention,
      removalPolicy: props.removalPolicy,
    } as const;
    const functions: Partial<Record<ApiRouteName, PunctualFunction>> = {};
    for (const route of API_ROUTES) {
      const fn = this.addRouteFunction(route, common, props);
      const [method, path] = route.routeKey.split(" ") as [apigw.HttpMethod, string];
      const scopes = routeScopes(config.api.auth, route.routeKey);
      this.httpApi.addRoutes({
        path,
        methods: [method],
        integration: lambdaIntegration(pascalCase(route.name), fn),
        ...(scopes ? { authorizationScopes: [...scopes] } : {}),
      });
      functions[route.name] = fn;
    }
    functions[DEFAULT_ROUTE.name] = this.addDefaultRoute(common, props);
    return functions as Record<ApiRouteName, PunctualFunction>;
  }

  /**
   * One route's function: its memory, timeout and description from the row; its variables and permissions from
   * the row's store entry and grants.
   */
  private addRouteFunction(
    route: ApiRouteRow,
    common: CommonFunctionProps,
    props: TaskApiProps,
  ): PunctualFunction {
    const values = variableValues(props, this, route.grants);
    const fn = new PunctualFunction(this, `${pascalCase(route.name)}Function`, {
      ...common,
      name: route.name,
      entry: route.entry,
      memorySize: route.memoryMb,
      timeout: Duration.seconds(route.timeoutSeconds ?? API_FUNCTION_TIMEOUT_SECONDS),
      description: `Punctual ${props.config.name}: ${route.routeKey}${route.purpose ? ` (${route.purpose})` : ""}`,
      environment: Object.fromEntries(routeVariables(route).map((name) => [name, values(name)])),
    });
    if (route.store) props.table.grantStoreAccess(fn, route.store);
    for (const grant of route.grants) applyGrant(grant, fn, props);
    return fn;
  }

  /**
   * The `$default` route, behind the same authorizer as every other route: API Gateway sends it every request
   * no route matched, and would otherwise answer `{"message":"Not Found"}` itself. Its function answers our
   * structured 404, or 405 with `Allow` for a known path, from the route table's keys (it imports them).
   */
  private addDefaultRoute(common: CommonFunctionProps, props: TaskApiProps): PunctualFunction {
    const fn = new PunctualFunction(this, `${pascalCase(DEFAULT_ROUTE.name)}Function`, {
      ...common,
      name: DEFAULT_ROUTE.name,
      entry: DEFAULT_ROUTE.entry,
      memorySize: DEFAULT_ROUTE.memoryMb,
      timeout: Duration.seconds(API_FUNCTION_TIMEOUT_SECONDS),
      description: `Punctual ${props.config.name}: ${DEFAULT_ROUTE.purpose}`,
    });
    new apigw.HttpRoute(this, "DefaultRoute", {
      httpApi: this.httpApi,
      routeKey: apigw.HttpRouteKey.DEFAULT,
      integration: lambdaIntegration(pascalCase(DEFAULT_ROUTE.name), fn),
      ...(this.httpApi.defaultAuthorizer ? { authorizer: this.httpApi.defaultAuthorizer } : {}),
    });
    return fn;
  }

  get addTaskFunction(): PunctualFunction {
    return this.functions["add-task"];
  }
  get getTaskFunction(): PunctualFunction {
    return this.functions["get-task"];
  }
  get cancelTaskFunction(): PunctualFunction {
    return this.functions["cancel-task"];
  }
  get unmatchedRouteFunction(): PunctualFunction {
    return this.functions["unmatched-route"];
  }

  /** The API's base URL (`https://<id>.execute-api.<region>.amazonaws.com/`). */
  get url(): string {
    return this.stage.url;
  }
}

/** The `$default` stage: default throttling and JSON access logs to the API's access log group. */
function addDefaultStage(api: TaskApi): apigw.HttpStage {
  return new apigw.HttpStage(api, "DefaultStage", {
    httpApi: api.httpApi,
    stageName: "$default",
    autoDeploy: true,
    throttle: { ...API_THROTTLE },
    accessLogSettings: {
      destination: new apigw.LogGroupLogDestination(api.accessLogs),
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
}

function acknowledgeUnauthenticatedRoutes(api: TaskApi, environmentName: string): void {
  for (const route of api.node.findAll()) {
    if (route instanceof apigw.CfnRoute) {
      Validations.of(route).acknowledge({
        id: "AwsSolutions-APIG4",
        reason: `The "${environmentName}" environment is the local cloud (127.0.0.1, no AWS account): its config declares api.auth "none", which synth refuses for every other environment.`,
      });
    }
  }
}

/** 5xx answers, and each route function's crashes, timeouts and throttles. */
function addApiAlarms(api: TaskApi, props: TaskApiProps): void {
  const { config, alarms } = props;
  const label = `Punctual ${config.name} API`;
  alarms.alarm(api, "ServerErrorsAlarm", {
    metric: api.httpApi.metricServerError({
      period: Duration.minutes(5),
      statistic: cloudwatch.Stats.SUM,
    }),
    threshold: 1,
    description: `${label}: answered 5xx (bad input is always 4xx, so this is a fault: failed timer arming, a crash or a timeout).`,
  });
  for (const [name, fn] of Object.entries(api.functions))
    alarms.watchFunction(fn, `${label} ${name} function`);
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

/**
 * The scopes a JWT must hold (any one of them) to call a route: its own entry in `api.auth.scopes`, else the
 * `"*"` entry, else none. Not for `$default`, which only answers 404/405.
 */
function routeScopes(auth: PunctualConfig["api"]["auth"], routeKey: string): readonly string[] | undefined {
  if (auth.type !== "jwt" || !auth.scopes) return undefined;
  return Object.hasOwn(auth.scopes, routeKey) ? auth.scopes[routeKey] : auth.scopes["*"];
}

type CommonFunctionProps = Pick<
  PunctualFunctionProps,
  "environmentName" | "logLevel" | "observability" | "logRetention" | "removalPolicy"
>;

/**
 * The topology section each grant's code reads (shared/contract/topology.ts): the topic views read their queues'
 * depths through `topicMappings` (each mapping names its queue and DLQ).
 */
const GRANT_TOPOLOGY_SECTIONS: Readonly<Partial<Record<RouteGrant, TopologySection>>> = {
  "topic-mappings:read": "topicMappings",
  "topic-mappings:switch": "topicMappings",
  "topic-queues:read": "topicMappings",
  "topic-queues:send": "topicQueues",
  "topic-settings:read": "topicSettings",
};

/**
 * A route's topology: only the sections its grants read. Lambda caps a function's environment at 4 KB, and the
 * topic sections grow with every topic: the whole topology in every route that reads the topic settings (add,
 * reschedule, the schedules…) passed the cap at a handful of topics and the deploy failed
 * (test/cdk/environment-size.test.ts).
 */
function routeTopology(props: TaskApiProps, grants: readonly RouteGrant[]): TopologyInput {
  const sections = new Set(grants.flatMap((grant) => GRANT_TOPOLOGY_SECTIONS[grant] ?? []));
  const { topics } = props;
  const names = topicQueueNames(topics);
  const topicWide = sections.has("topicMappings") || sections.has("topicQueues");
  return {
    ...(topicWide ? names.base : {}),
    ...(sections.has("topicMappings")
      ? {
          topicMappings: Object.fromEntries(
            topics.map((topic) => [
              topic.name,
              { mappingUuid: topic.deliverMappingUuid, ...names.of(topic) },
            ]),
          ),
        }
      : {}),
    ...(sections.has("topicQueues")
      ? { topicQueues: Object.fromEntries(topics.map((topic) => [topic.name, names.of(topic).queueUrl])) }
      : {}),
    // Only to the rows granted `topic-settings:read`: a function told of the profile may read it.
    ...(sections.has("topicSettings") ? { topicSettings: props.runtimeSettings.topology } : {}),
  };
}

/** The stack's value of each variable a route's row can ask for (shared/api/routes.ts GRANT_VARIABLES). */
function variableValues(
  props: TaskApiProps,
  scope: Construct,
  grants: readonly RouteGrant[],
): (name: EnvName) => string {
  const { table, timerQueues, timerScheduler } = props;
  const values: Partial<Record<EnvName, string>> = {
    [ENV.tableName]: table.tableName,
    [ENV.timerQueueUrl]: timerQueues.queue.queueUrl,
    [ENV.timerQueueArn]: timerQueues.queue.queueArn,
    [ENV.scheduleGroupName]: timerScheduler.group.scheduleGroupName,
    [ENV.schedulerRoleArn]: timerScheduler.role.roleArn,
    [ENV.scheduleDlqArn]: timerQueues.scheduleDeadLetterQueue.queueArn,
    [ENV.topology]: Stack.of(scope).toJsonString(routeTopology(props, grants)),
  };
  return (name) => {
    const value = values[name];
    if (value === undefined) throw new Error(`the task API has no value for ${name}`);
    return value;
  };
}

/** A row's grant name → the CDK grant it stands for. */
function applyGrant(grant: RouteGrant, fn: PunctualFunction, props: TaskApiProps): void {
  switch (grant) {
    case "timer-queue:send":
      props.timerQueues.grantArmTimers(fn);
      return;
    case "schedules:arm":
      props.timerScheduler.grantArm(fn);
      return;
    case "schedules:disarm":
      props.timerScheduler.grantDisarm(fn);
      return;
    case "topic-mappings:read":
      grantMappings(fn, props.topics, ["lambda:GetEventSourceMapping"]);
      return;
    case "topic-mappings:switch":
      // Update needs Get too: the SDK call answers the mapping, and the route reads its state back.
      grantMappings(fn, props.topics, ["lambda:GetEventSourceMapping"]);
      grantTopicSwitch(props.topics, fn);
      return;
    case "topic-queues:read":
      fn.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ["sqs:GetQueueAttributes"],
          resources: props.topics.flatMap((t) => [t.queue.queueArn, t.deadLetterQueue.queueArn]),
        }),
      );
      return;
    case "topic-queues:send":
      for (const topic of props.topics) grantSendOnly(topic.queue, fn);
      return;
    case "topic-settings:read":
      props.runtimeSettings.grantRead(fn);
      return;
  }
}

/** Actions on exactly the topics' deliver event source mappings (by ARN), none other. */
function grantMappings(fn: PunctualFunction, topics: readonly Topic[], actions: string[]): void {
  fn.addToRolePolicy(
    new iam.PolicyStatement({ actions, resources: topics.map((topic) => topic.deliverMappingArn) }),
  );
}

/**
 * A Lambda proxy integration handing its function payload format 2.0, named rather than left to CDK's default:
 * every handler reads 2.0 (shared/api/http-route.ts) — its `rawQueryString` shows a repeated query key that
 * `queryStringParameters` joins with a comma, and a repeated header arrives joined, not as its last value (1.0) —
 * and the local API server builds 2.0 only (local/cloud/template.ts refuses another).
 */
function lambdaIntegration(id: string, fn: PunctualFunction): integrations.HttpLambdaIntegration {
  return new integrations.HttpLambdaIntegration(id, fn, {
    payloadFormatVersion: apigw.PayloadFormatVersion.VERSION_2_0,
  });
}

/** `add-task` → `AddTask`: the construct ids the stack has always used, so logical ids stay stable. */
function pascalCase(name: string): string {
  return name.replace(/(^|-)([a-z])/g, (_, _dash, letter: string) => letter.toUpperCase());
}
