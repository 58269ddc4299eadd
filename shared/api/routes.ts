/**
 * The API's route table: one row per route, plain data (no CDK import, so runtime code may read it too).
 *
 * It drives the CDK's routes and functions (cdk/lib/constructs/task-api.ts builds one function per row and
 * applies its grants), the local cloud (which reads those routes and functions back from the synthesized
 * template), the per-function benchmark (bench/functions.ts) and the unmatched-route function (which answers
 * 405 with `Allow` from these route keys).
 *
 * How to add a route:
 * 1. Write its handler, `functions/<name>.ts`, exporting `handler` (and `createHandler` for the tests), built
 *    with `httpRoute` (shared/api/http-route.ts) so it answers the structured error body.
 * 2. Add one row below: route key, entry, memory, the task-store methods it calls (`store`: its DynamoDB grant is
 *    derived from them, and test/cdk/dynamodb-grants.test.ts checks them against its bundle) and what else it
 *    needs as grants.
 * 3. Its request and response schemas in shared/api/contract.ts, then `npm run openapi` (the OpenAPI document).
 * A grant the table does not know yet gets a name in RouteGrant, its variables in GRANT_VARIABLES and its CDK
 * call in task-api.ts.
 */
import type { StoreMethod } from "#shared/adapters/dynamo-task-store.js";
import { ENV, type EnvName } from "#shared/runtime/env.js";

/** What a route's function may do besides logging, each one CDK grant (task-api.ts) plus the variables it reads. */
export type RouteGrant =
  | "timer-queue:send"
  | "schedules:arm"
  | "schedules:disarm"
  // Scope I1 (topic hold): read / enable-disable the topics' deliver event source mappings, read queue depths.
  | "topic-mappings:read"
  | "topic-mappings:switch"
  | "topic-queues:read"
  | "topic-queues:send"
  // Issue 14.5: read the runtime topic settings (AppConfig profile named in the topology's `topicSettings`).
  | "topic-settings:read";

/**
 * The variables each grant gives the function (values come from the stack): the function reads them with
 * `requireEnv`. Arming a schedule names the timer queue as its target and the schedule DLQ as its dead-letter
 * queue, and passes the scheduler's role.
 */
export const GRANT_VARIABLES: { readonly [G in RouteGrant]: readonly EnvName[] } = {
  "timer-queue:send": [ENV.timerQueueUrl],
  "schedules:arm": [ENV.timerQueueArn, ENV.scheduleGroupName, ENV.schedulerRoleArn, ENV.scheduleDlqArn],
  "schedules:disarm": [ENV.scheduleGroupName],
  // The topology's `topicMappings` section: topic → mapping UUID, deliver function, queue and DLQ URLs.
  "topic-mappings:read": [ENV.topology],
  "topic-mappings:switch": [ENV.topology],
  "topic-queues:read": [ENV.topology],
  // The topology's `topicQueues` section (topic → FIFO queue URL), and SendMessage on those queues.
  "topic-queues:send": [ENV.topology],
  "topic-settings:read": [ENV.topology],
};

export interface ApiRouteRow {
  /** The function's name: `<name>` in construct ids (`AddTaskFunction`) and in the stack's function list. */
  readonly name: string;
  /** API Gateway's route key: `METHOD /path`, `{param}` for one segment, a final `{param+}` for the rest. */
  readonly routeKey: string;
  /** Handler module relative to the repository root. */
  readonly entry: string;
  /** What the function does, for its description (`Punctual dev: POST /v1/tasks (…)`). */
  readonly purpose?: string;
  /** Lambda memory (MB). CPU scales with memory: the hot path (add-task) gets 512. */
  readonly memoryMb: number;
  /** Defaults to API_FUNCTION_TIMEOUT_SECONDS (cdk/lib/sizing.ts), under API Gateway's 30 s. */
  readonly timeoutSeconds?: number;
  /**
   * The task-store methods its handler calls (through its service): the function gets TABLE_NAME and exactly the
   * DynamoDB actions those methods send (TASK_STORE_OPERATIONS), which test/cdk/dynamodb-grants.test.ts checks
   * against its bundle.
   */
  readonly store?: readonly StoreMethod[];
  readonly grants: readonly RouteGrant[];
}

/**
 * The store methods of stopping a schedule (pause, delete): the status write, then the occurrences a materializer
 * run has leased written as cancelled tasks under their idempotency claims, the ones made ahead cancelled
 * (shared/services/schedules/stop.ts). Writes only the table: nothing is armed.
 */
const STOP_SCHEDULE = [
  "updateSchedule",
  // A repeated stop passes over the occurrences already cancelled by reading them (stop.ts, cancelOccurrences).
  "get",
  "claimIdempotencyKey",
  "putNew",
  "findIdempotencyClaim",
  "cancel",
  "restoreFanOutParent",
  "settleRescheduled",
] as const satisfies readonly StoreMethod[];

/**
 * The store methods of the add-task service (shared/services/add-task.ts), which every function adding tasks calls:
 * `cancel`, a keyed retry of a cancelled fan-out task cancels a copy still `scheduled` (fan-out/add.ts);
 * `readIdempotencyClaim`, a keyed repeat that today's settings would refuse answers the task it made (200).
 */
const ADD_TASK_STORE = [
  "claimIdempotencyKey",
  "readIdempotencyClaim",
  "putNew",
  "get",
  "removeScheduled",
  "enterSweepIndex",
  "cancel",
] as const satisfies readonly StoreMethod[];

export const API_ROUTES = [
  {
    name: "add-task",
    routeKey: "POST /v1/tasks",
    entry: "functions/add-task.ts",
    purpose: "store the task, arm its timer",
    memoryMb: 512,
    store: ADD_TASK_STORE,
    grants: ["timer-queue:send", "schedules:arm", "topic-settings:read"],
  },
  // Issue 13, scope L: batch add (fan-out items, shared keys and fallen-back lanes through the single add's
  // service; the others claimed in PartiQL INSERTs, written in BatchWriteItem or INSERT calls, armed in
  // SendMessageBatch calls, shared/services/add-tasks-batched.ts).
  {
    name: "add-tasks-batch",
    routeKey: "POST /v1/tasks/batch",
    entry: "functions/add-tasks-batch.ts",
    purpose: "add up to 100 tasks, one result each",
    memoryMb: 512,
    store: [...ADD_TASK_STORE, "claimIdempotencyKeys", "putNewMany", "insertNewMany"],
    grants: ["timer-queue:send", "schedules:arm", "topic-settings:read"],
  },
  {
    name: "get-task",
    routeKey: "GET /v1/tasks/{id}",
    entry: "functions/get-task.ts",
    memoryMb: 256,
    store: ["get"],
    // Whether a fan-out task whose copies are all missing completed and expired (404) hangs on the topic's
    // retention, which the runtime settings may change: read as cancel-task and list-tasks read it.
    grants: ["topic-settings:read"],
  },
  {
    name: "cancel-task",
    routeKey: "DELETE /v1/tasks/{id}",
    entry: "functions/cancel-task.ts",
    purpose: "cancel (or discard a dead-lettered task), delete its schedule",
    memoryMb: 256,
    // `get`: a fan-out task's answer reads its subscribers' copies (issue 14, point 3). `putNew`: the successor of
    // a move stopped part-way, written `cancelled` (cancel-task.ts, fenceSuccessor).
    store: [
      "cancel",
      "restoreFanOutParent",
      "discardFailed",
      "get",
      "settleRescheduled",
      "putNew",
      "keepFanOutParent",
    ],
    grants: ["schedules:disarm", "topic-settings:read"],
  },
  {
    name: "openapi",
    routeKey: "GET /v1/openapi.json",
    entry: "functions/openapi.ts",
    purpose: "serve the API's OpenAPI document",
    memoryMb: 256,
    grants: [],
  },
  // Scope I1: hold a topic (pause/resume its deliver mapping) and show topics.
  {
    name: "pause-topic",
    routeKey: "POST /v1/topics/{topic}/pause",
    entry: "functions/pause-topic.ts",
    purpose: "disable the topic's deliver event source mapping",
    memoryMb: 256,
    grants: ["topic-mappings:switch"],
  },
  {
    name: "resume-topic",
    routeKey: "POST /v1/topics/{topic}/resume",
    entry: "functions/resume-topic.ts",
    purpose: "enable the topic's deliver event source mapping, unless its runtime settings hold it paused",
    memoryMb: 256,
    grants: ["topic-mappings:switch", "topic-settings:read"],
  },
  {
    name: "list-topics",
    routeKey: "GET /v1/topics",
    entry: "functions/list-topics.ts",
    purpose: "topics: settings, paused, backlog, oldest age, dead letters",
    memoryMb: 256,
    store: ["listUnfinishedDueBy"],
    grants: ["topic-mappings:read", "topic-queues:read", "topic-settings:read"],
  },
  {
    name: "get-topic",
    routeKey: "GET /v1/topics/{topic}",
    entry: "functions/get-topic.ts",
    purpose: "a topic: settings, paused, backlog, oldest age, dead letters",
    memoryMb: 256,
    store: ["listUnfinishedDueBy"],
    grants: ["topic-mappings:read", "topic-queues:read", "topic-settings:read"],
  },
  // Operations routes, scope I2: reschedule, run now, group cancel.
  {
    name: "reschedule-task",
    routeKey: "PATCH /v1/tasks/{id}",
    entry: "functions/reschedule-task.ts",
    purpose: "move a scheduled task to a new due time",
    memoryMb: 256,
    store: ["get", "markRescheduled", "putNew", "settleRescheduled", "moveIdempotencyClaim"],
    grants: ["timer-queue:send", "schedules:arm", "schedules:disarm", "topic-settings:read"],
  },
  {
    name: "run-task",
    routeKey: "POST /v1/tasks/{id}/run",
    entry: "functions/run-task.ts",
    purpose: "make a scheduled task due now",
    memoryMb: 256,
    store: ["get", "markRescheduled", "putNew", "settleRescheduled", "moveIdempotencyClaim"],
    grants: ["timer-queue:send", "schedules:arm", "schedules:disarm", "topic-settings:read"],
  },
  {
    name: "cancel-group",
    routeKey: "POST /v1/topics/{topic}/groups/{value}/cancel",
    entry: "functions/cancel-group.ts",
    purpose: "cancel a group's scheduled tasks, delete their schedules",
    memoryMb: 256,
    // `get`: a listed move still unsettled whose successor an earlier, failed call cancelled (cancel-group.ts);
    // `putNew`: one whose successor is not written yet, written `cancelled` (cancel-task.ts, fenceSuccessor).
    store: [
      "listGroupPage",
      "cancel",
      "restoreFanOutParent",
      "settleRescheduled",
      "get",
      "putNew",
      "keepFanOutParent",
    ],
    // A cancelled task's retention and a fan-out parent's copies follow the runtime settings, as in cancel-task.
    grants: ["schedules:disarm", "topic-settings:read"],
  },
  // --- issue 11, scope H: find and replay (appended block) ---
  {
    name: "list-tasks",
    routeKey: "GET /v1/tasks",
    entry: "functions/list-tasks.ts",
    purpose: "list a group in delivery order, or a topic's dead-lettered tasks",
    memoryMb: 256,
    // `get`: a fan-out task's row shows its subscribers' copies (issue 14, point 3).
    store: ["listGroup", "listFailed", "get"],
    // `?subscriber=` checks the topic's current subscribers, which the runtime settings may change.
    grants: ["topic-settings:read"],
  },
  {
    name: "replay-task",
    routeKey: "POST /v1/tasks/{id}/replay",
    entry: "functions/replay-task.ts",
    purpose: "deliver a failed or delivered task again",
    memoryMb: 256,
    // `revertReplay`: a replay whose send failed is undone (answered 503), not left `queued` for the sweeper.
    // `keepFanOutParent`: a copy's replay keeps its parent as long as the copy's new life (replay-task.ts).
    store: ["markReplayed", "get", "revertReplay", "keepFanOutParent"],
    // A fan-out task's retention (completed and expired?) and the delivery window a replayed copy keeps its parent
    // for follow the runtime settings, as in get-task and cancel-task (replay-task.ts, currentTopics).
    grants: ["topic-queues:send", "topic-settings:read"],
  },
  {
    name: "replay-topic",
    routeKey: "POST /v1/topics/{topic}/replay",
    entry: "functions/replay-topic.ts",
    purpose: "replay a topic's dead-lettered tasks in group order",
    memoryMb: 512,
    // `readMany`: the named tasks and a named fan-out task's copies, 100 per BatchGetItem; `get`, the keys it
    // leaves unread after its retries, and a task whose mark failed, read back (it may have landed).
    // `listUnfinishedInGroup` (a Query on the table), `markRequeued`: before each send, another replay's pending
    // mark earlier in the group is read, sent ahead and marked re-sent (replay-topic.ts, pinPending). Missing, the
    // role was denied that Query and every bulk replay in AWS stopped at its first send (500), nothing replayed.
    store: [
      "readMany",
      "get",
      "listFailed",
      "markReplayed",
      "revertReplay",
      "keepFanOutParent",
      "listUnfinishedInGroup",
      "markRequeued",
    ],
    // As replay-task: a named fan-out task's retention and a replayed copy's parent follow the runtime settings.
    grants: ["topic-queues:send", "topic-settings:read"],
  },
  // --- issue 14, point 4: recurring schedules (appended block) ---
  {
    name: "create-schedule",
    routeKey: "POST /v1/schedules",
    entry: "functions/create-schedule.ts",
    purpose: "store a recurring schedule, make its first occurrences tasks",
    memoryMb: 512,
    store: [
      ...ADD_TASK_STORE,
      "putSchedule",
      "getSchedule",
      "updateSchedule",
      "findIdempotencyClaim",
      "restoreFanOutParent",
      "settleRescheduled",
    ],
    // Disarm too: the inline materialization cancels what it added if the schedule was stopped meanwhile.
    grants: ["timer-queue:send", "schedules:arm", "schedules:disarm", "topic-settings:read"],
  },
  {
    name: "get-schedule",
    routeKey: "GET /v1/schedules/{id}",
    entry: "functions/get-schedule.ts",
    memoryMb: 256,
    store: ["getSchedule"],
    grants: [],
  },
  {
    name: "list-schedules",
    routeKey: "GET /v1/schedules",
    entry: "functions/list-schedules.ts",
    purpose: "list a topic's schedules",
    memoryMb: 256,
    store: ["listSchedules"],
    grants: [],
  },
  {
    name: "pause-schedule",
    routeKey: "POST /v1/schedules/{id}/pause",
    entry: "functions/pause-schedule.ts",
    purpose: "stop a schedule's occurrences, cancel the ones ahead",
    memoryMb: 256,
    store: STOP_SCHEDULE,
    grants: ["schedules:disarm", "topic-settings:read"],
  },
  {
    name: "resume-schedule",
    routeKey: "POST /v1/schedules/{id}/resume",
    entry: "functions/resume-schedule.ts",
    purpose: "resume a paused schedule from now",
    memoryMb: 512,
    store: [
      ...ADD_TASK_STORE,
      "getSchedule",
      "updateSchedule",
      "findIdempotencyClaim",
      "restoreFanOutParent",
      "settleRescheduled",
    ],
    grants: ["timer-queue:send", "schedules:arm", "schedules:disarm", "topic-settings:read"],
  },
  {
    name: "delete-schedule",
    routeKey: "DELETE /v1/schedules/{id}",
    entry: "functions/delete-schedule.ts",
    purpose: "delete a schedule, cancel its occurrences ahead",
    memoryMb: 256,
    store: STOP_SCHEDULE,
    grants: ["schedules:disarm", "topic-settings:read"],
  },
  // --- issue 14 (breaker): destinations (appended block) ---
  {
    name: "list-destinations",
    routeKey: "GET /v1/destinations",
    entry: "functions/list-destinations.ts",
    purpose: "callback hosts: circuit state, failures, next probe, leases",
    memoryMb: 256,
    store: ["listDestinations"],
    grants: [],
  },
  {
    name: "reset-destination",
    routeKey: "POST /v1/destinations/{host}/reset",
    entry: "functions/reset-destination.ts",
    purpose: "close a callback host's circuit by hand",
    memoryMb: 256,
    store: ["getDestination", "closeCircuit"],
    grants: [],
  },
] as const satisfies readonly ApiRouteRow[];

/**
 * API Gateway's `$default` route: every request no row above matched. Its function answers the structured 404,
 * or 405 with `Allow` when the path exists under other methods (from API_ROUTE_KEYS).
 */
export const DEFAULT_ROUTE = {
  name: "unmatched-route",
  routeKey: "$default",
  entry: "functions/unmatched-route.ts",
  purpose: "answers unmatched paths (404) and methods (405) with the API's error body",
  memoryMb: 256,
  grants: [],
} as const satisfies ApiRouteRow;

export type ApiRouteName = (typeof API_ROUTES)[number]["name"] | typeof DEFAULT_ROUTE.name;

/** The route keys of the table (`GET /v1/tasks/{id}`), `$default` excluded. */
export const API_ROUTE_KEYS: readonly string[] = API_ROUTES.map((route) => route.routeKey);

/** The environment variables a route's function gets from the stack beyond the common ones. */
export function routeVariables(route: ApiRouteRow): EnvName[] {
  const names = new Set<EnvName>(route.store ? [ENV.tableName] : []);
  for (const grant of route.grants) for (const name of GRANT_VARIABLES[grant]) names.add(name);
  return [...names];
}
