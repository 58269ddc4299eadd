/**
 * How long before the Lambda deadline an HTTP route answers 503 "retry" on its own (http-route.ts, middy's
 * `timeoutEarlyInMillis`) instead of letting Lambda kill the invocation, which API Gateway turns into a bodyless 500.
 * A module without imports, so that a service that must be done before it (an add's clean-up, `inTime`) reads it
 * without bundling the route's middleware.
 */
export const EARLY_ANSWER_MS = 500;
