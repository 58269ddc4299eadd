/**
 * How many entries of a list a task's view holds at most, in a module of its own (no node: imports, no imports at
 * all) so the console's browser bundle can refuse a view with more (console/src/answers.ts): more is a broken API's.
 */

/**
 * The attempt log's ring: the last this many attempts of a task (./attempt-log.ts says why a ring).
 */
export const ATTEMPT_LOG_SIZE = 10;

/**
 * At most this many subscribers per topic. Each one is a whole task per task added (an item, a timer message, a
 * FIFO message, its writes: cost grows by S, docs/COST-AND-SCALE.md "Fan-out"); the add makes two calls per
 * subscriber (side by side) inside API Gateway's 30 s, and the parent's view reads every copy. Ten keeps an add
 * at 21 calls and a view at 11 reads. A bus with hundreds of listeners wants SNS/EventBridge in front, not this.
 * So a fan-out task's view lists at most this many subscribers.
 */
export const MAX_SUBSCRIBERS = 10;

/**
 * The most topics the console, the client and the CLI list (GET /v1/topics answers every topic, no page). A deployed
 * stack holds at most about 13 (README "Honest limits": its functions' environment variables and CloudFormation's
 * 500 resources); each listed topic is a metrics request (a CloudWatch GetMetricData through `punctual console`) and
 * a row with a Pause/Resume button, so a hundred, generous for any real environment, is the bound: more is a broken
 * API's answer, refused as malformed (the panel's error line; the client's `invalid_response`, client/routes.ts),
 * not thousands of requests sent and rows rendered or printed. The configuration refuses an environment of more
 * (shared/config/load.ts; the local one's overrides may add any number), so no API answers more.
 */
export const MAX_LISTED_TOPICS = 100;

/**
 * The most characters a value of one of the API's closed sets (a task's or schedule's `status`, `catch_up`, a
 * circuit's `state`) may have when its reader does not know it: a newer API's value is read as sent (an older client
 * or console keeps working, docs/OPERATIONS.md "Upgrading: clients and deployments"), but every known one is a word or
 * two (`half-open`, `delivering`), so a longer one is a broken answer's, refused as a number, null or "" is.
 */
export const OPEN_VALUE_MAX_CHARS = 64;

/**
 * The most circuits a reset of one host on one topic (POST /v1/destinations/{host}/reset?topic=) lists: the host's
 * entry on that topic, and the entry of the key its NAT64 spelling had before (shared/domain/destination.ts
 * formerDestinationHostOf); a reset of every topic, this many on each deployed one. More is a broken API's answer:
 * the console refuses it as malformed rather than write every entry into its line (console/src/actions.ts), the
 * client as `invalid_response` (client/routes.ts `resetListsAtMost`).
 */
export const RESET_CIRCUITS_PER_TOPIC = 2;
