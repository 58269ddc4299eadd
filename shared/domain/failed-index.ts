/**
 * The failed index: a sparse global secondary index of the task table holding exactly the dead-lettered tasks,
 * per topic, newest first (`GET /v1/tasks?topic=T&status=failed`).
 *
 * - Partition key `failedTopic` (string): the task's topic. Only `markFailed` SETs it — in the very UpdateItem
 *   that records the failure, so dead-lettering costs no extra request — and a replay or a discard (DELETE of a failed task) REMOVEs it. Items without
 *   it (every task that never failed: the whole happy path) are not in the index and cost it nothing.
 * - Sort key `failedAtMs` (number): when the task was dead-lettered; Query with ScanIndexForward=false lists
 *   the newest first.
 * - Projection ALL: the list answers full task views with no read per item. Only failed tasks are in it, so
 *   the index's storage is the size of the dead-letter backlog.
 *
 * One topic's dead-letter backlog lives on one index partition key. Dead-lettering is rare by design (an
 * alarm fires on it); a topic failing above ~1,000 tasks/s would throttle the index writes, which DynamoDB
 * retries, and the index catches up.
 */
export const FAILED_INDEX_NAME = "failed-by-topic";
export const FAILED_TOPIC_ATTRIBUTE = "failedTopic";
export const FAILED_SORT_ATTRIBUTE = "failedAtMs";
