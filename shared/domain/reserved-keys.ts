/**
 * The idempotency keys only the schedule materializer may use: each occurrence is added under
 * `schedule:<id>:<epoch>:<ms>` in its topic's key space, so a caller's key with this prefix is refused (case-
 * sensitive: keys are compared byte for byte). Its own module, free of imports, because the add routes and every
 * function reading schedules need it, and neither should bundle the other's schemas or cron library for it.
 */
export const RESERVED_KEY_PREFIX = "schedule:";
