/**
 * The API's response schemas live with the API (shared/api/schemas/); the client parses every answer with them,
 * two of them as answer-schemas.ts reads an older deployment's answers.
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
