/**
 * `punctual/client`: a typed client of the Punctual API.
 *
 *   import { PunctualClient } from "punctual/client";
 *   const punctual = new PunctualClient({ apiUrl: process.env.PUNCTUAL_API_URL }); // SigV4 unless loopback
 *   const { task_id } = await punctual.addTask({ topic: "orders", delay_seconds: 90, content: { id: 1 } });
 *   const task = await punctual.getTask(task_id); // task.status, task.attempts, …
 */
export { type AddBatchingOptions, DEFAULT_MAX_IN_FLIGHT } from "./add-batching.js";
export { apiUrlProblem } from "./api-url.js";
export {
  cleartextCredentialsProblem,
  defaultAuthFor,
  InsecureApiUrlError,
  InvalidTokenError,
  MissingRegionError,
  type PunctualAuth,
  regionOfApiUrl,
  tokenProblem,
} from "./auth.js";
export { BATCH_ROUTE_RETRY_MS } from "./batch-caps.js";
export { PunctualClient, type PunctualClientOptions } from "./client.js";
export { type ClientErrorCode, isPunctualError, PunctualError } from "./errors.js";
export { withItemKeys } from "./item-keys.js";
export {
  DEFAULT_RETRY,
  isRedirect,
  RETRYABLE_STATUSES,
  type RetryPolicy,
  UNSERVED_STATUSES,
} from "./retry.js";
export {
  type AddTaskInput,
  type AddTasksInput,
  type CallOptions,
  type CancelGroupInput,
  type CreateScheduleInput,
  type ExactTiming,
  type ListDestinationsInput,
  type RescheduleInput,
  ROUTES,
  type RouteDescriptor,
  type RouteMethods,
} from "./routes.js";
export * from "./schemas.js";
