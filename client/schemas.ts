/**
 * The API's response schemas live with the API (shared/api/schemas/); the client parses every answer with them,
 * as answer-schemas.ts reads an older deployment's answers and a newer one's closed-set values. The answer schemas
 * and types below are the client's own under the API's names (a name exported here is not taken from the
 * `export *` lines): what `punctual/client` exports is what it parses with.
 */

export * from "#shared/api/lambda-event-size.js";
export * from "#shared/api/schemas/batch.js";
export * from "#shared/api/schemas/destinations.js";
export * from "#shared/api/schemas/operations.js";
// Recurring schedules (issue 14, point 4).
export * from "#shared/api/schemas/schedules.js";
export * from "#shared/api/schemas/tasks.js";
// Topic routes (scope J).
export * from "#shared/api/schemas/topics.js";
export * from "./answer-schemas.js";
export {
  type AddTaskAnswer as AddTaskResponse,
  type AddTasksBatchAnswer as AddTasksBatchResponse,
  addTaskAnswerSchema as addTaskResponseSchema,
  addTasksBatchAnswerSchema as addTasksBatchResponseSchema,
  type BatchItemAnswer as BatchItemResult,
  type DestinationAnswer as DestinationView,
  type DestinationListAnswer as DestinationList,
  type DestinationResetAnswer as DestinationResetResponse,
  destinationListAnswerSchema as destinationListSchema,
  destinationResetAnswerSchema as destinationResetResponseSchema,
  type RescheduleAnswer as RescheduleResponse,
  rescheduleAnswerSchema as rescheduleResponseSchema,
  type ScheduleViewAnswer as ScheduleView,
  scheduleListAnswerSchema as scheduleListSchema,
  scheduleViewAnswerSchema as scheduleViewSchema,
  type TaskListAnswer as TaskList,
  type TaskViewAnswer as TaskView,
  taskListAnswerSchema as taskListSchema,
  taskViewAnswerSchema as taskViewSchema,
} from "./answer-schemas.js";
