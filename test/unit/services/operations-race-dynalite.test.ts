import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { DynamoTaskStore } from "#shared/adapters/dynamo-task-store.js";
import { HttpError } from "#shared/api/errors.js";
import type { TaskRecord } from "#shared/domain/task.js";
import { retentionExpiry } from "#shared/domain/task.js";
import { addTask } from "#shared/services/add-task.js";
import { cancelGroup } from "#shared/services/cancel-group.js";
import { cancelTask } from "#shared/services/cancel-task.js";
import { replayTask } from "#shared/services/replay-task.js";
import { replayTopic } from "#shared/services/replay-topic.js";
import { rescheduleTask, runTask } from "#shared/services/reschedule-task.js";
import { dynaliteTaskStores } from "../../support/dynalite-task-stores.js";
import { makeTask } from "../../support/factories.js";
import { FakeTopicQueue } from "../../support/fakes/topic-queue.js";
import { propertyRuns, propertyScale } from "../../support/fast-check-runs.js";
import { FakeScheduler, FakeTimerQueue, NOW, testConfig } from "../api/fakes.js";

/**
 * The task operations a careless operator (a double click, a script run twice, two consoles) sends at once for one
 * task — PATCH twice (the same target and another), run now twice, DELETE, the group's cancel; replay twice, by id
 * and by filter, beside a discard — against DynamoDB (dynalite, the real store over a real SDK client), whose
 * conditional writes decide the races; each request on a clock of its own, milliseconds apart, as separate
 * containers have. Whatever order the writes land in:
 * - every answer is a 2xx or a structured 4xx (a 503 only where a queue send was made to fail);
 * - a move leaves one chain of items: each earlier one `rescheduled` and settled (out of the sweep index, where the
 *   sweeper would finish its move again), the last one there, armed when `scheduled` — nothing lost, nothing twice;
 * - the answers are true of it: a 200 or a 409's `rescheduled_to` names an item of the chain, a move answered
 *   `scheduled` names its end unless a cancel answered too, a DELETE answered `cancelled` leaves it cancelled, and a
 *   move is never due before the time it asked for;
 * - one replay at most answers that it replayed the task (only a finished task is replayed, and nothing finishes it
 *   again meanwhile); a replayed task ends `queued` with a message on its queue, or as it was.
 * A regression net over the store's conditions (no defect found: it passes before and after).
 */

/** Each property's 40 cases take ~3 s on an idle machine; room for 2 shared cores under the whole suite. */
const TIMEOUT_MS = 60_000 * propertyScale();

/** A table of its own per case: a filter replay reads the topic's every dead letter. */
const freshStore = dynaliteTaskStores("operations-race", NOW);

type Answer =
  | { readonly ok: true; readonly value: unknown }
  | { readonly ok: false; readonly error: unknown };

/** Every call at once; each answer as it came, kept for the checks (and the failure's message). */
async function allAtOnce(calls: readonly (() => Promise<unknown>)[]): Promise<Answer[]> {
  return Promise.all(
    calls.map((call) =>
      call().then(
        (value) => ({ ok: true as const, value }),
        (error: unknown) => ({ ok: false as const, error }),
      ),
    ),
  );
}

/** An answer as a line: what each request was told. */
function describeAnswer(name: string, answer: Answer): string {
  if (answer.ok) return `${name}: 2xx ${JSON.stringify(answer.value).slice(0, 300)}`;
  const { error } = answer;
  if (error instanceof HttpError) return `${name}: ${error.status} ${error.message}`;
  return `${name}: threw ${String(error)}`;
}

/** A refusal is an HttpError with a 4xx status (a 503 too where `allow503`), never a fault. */
function expectStructured(answer: Answer, info: string, allow503 = false): void {
  if (answer.ok) return;
  expect(answer.error, info).toBeInstanceOf(HttpError);
  const { status } = answer.error as HttpError;
  if (allow503 && status === 503) return;
  expect(status, info).toBeGreaterThanOrEqual(400);
  expect(status, info).toBeLessThan(500);
}

/** The items a task's moves made, from its first id along `rescheduledTo`; `undefined` at the end: missing. */
async function chainFrom(store: DynamoTaskStore, taskId: string): Promise<(TaskRecord | undefined)[]> {
  const chain: (TaskRecord | undefined)[] = [];
  let next: string | undefined = taskId;
  while (next !== undefined && chain.length < 10) {
    const item: TaskRecord | undefined = await store.get(next);
    chain.push(item);
    next = item?.status === "rescheduled" ? item.rescheduledTo : undefined;
  }
  return chain;
}

/** One request of the move and cancel property: which, and its container's clock offset (ms). */
const moveOp = fc.record({
  kind: fc.constantFrom("patch-60", "patch-60-again", "patch-1200", "run", "run-again", "delete", "group"),
  skewMs: fc.integer({ min: 0, max: 4 }),
});

describe("operations racing on one task, against DynamoDB", { timeout: TIMEOUT_MS }, () => {
  it("PATCH, run now, DELETE and the group cancel sent at once: one chain, settled and armed, every answer true of it", async () => {
    let group = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(30, 600, 3_600),
        fc.array(moveOp, { minLength: 2, maxLength: 6 }),
        async (delaySeconds, ops) => {
          // Prepare: one task of its own group, due on the timer queue (30 s) or a schedule (10 min, an hour)
          const store = await freshStore();
          const timerQueue = new FakeTimerQueue();
          const scheduler = new FakeScheduler();
          const base = { store, timerQueue, scheduler, config: testConfig() };
          const value = `race-${++group}`;
          const added = await addTask(
            { ...base, now: () => NOW },
            {
              body: {
                topic: "demo",
                delay_seconds: delaySeconds,
                content: { order_id: value },
                callback: { url: "https://hooks.example.com/p" },
              },
            },
          );
          const id = added.body.task_id;

          // Act: every request at once, each on its own clock
          const calls = ops.map(({ kind, skewMs }) => {
            const deps = { ...base, now: () => NOW + skewMs };
            const requests: Record<typeof kind, () => Promise<unknown>> = {
              "patch-60": () => rescheduleTask(deps, id, { delay_seconds: 60 }),
              "patch-60-again": () => rescheduleTask(deps, id, { delay_seconds: 60 }),
              "patch-1200": () => rescheduleTask(deps, id, { delay_seconds: 1_200 }),
              run: () => runTask(deps, id),
              "run-again": () => runTask(deps, id),
              delete: () => cancelTask(deps, id),
              group: () => cancelGroup(deps, { topic: "demo", value }, {}),
            };
            return requests[kind];
          });
          const answers = await allAtOnce(calls);

          // Assess
          const chain = await chainFrom(store, id);
          const end = chain.at(-1);
          const ids = chain.flatMap((item) => (item ? [item.taskId] : []));
          const info = [
            ...ops.map((op, i) => describeAnswer(`${op.kind} (+${op.skewMs} ms)`, answers[i] as Answer)),
            ...chain.map((t) => (t ? `${t.taskId} ${t.status} shard=${t.sweepShard ?? "-"}` : "missing")),
          ].join("\n");
          for (const answer of answers) expectStructured(answer, info);
          expect(end, `the chain's last item is missing\n${info}`).toBeDefined();
          for (const earlier of chain.slice(0, -1)) {
            expect(earlier?.status, info).toBe("rescheduled");
            expect(earlier?.sweepShard, `a move left unsettled\n${info}`).toBeUndefined();
          }
          if (end?.status === "scheduled") {
            const armed =
              timerQueue.armed.some((arm) => arm.taskId === end.taskId) ||
              scheduler.created.some((created) => created.taskId === end.taskId);
            expect(armed, `the task left scheduled has no timer\n${info}`).toBe(true);
          }
          // Whether any cancel answered that it cancelled (the group's: anything of the group).
          const cancels = ops.flatMap((op, i) => {
            const answer = answers[i] as Answer;
            if (!answer.ok) return [];
            if (op.kind === "delete") return [(answer.value as { status: string }).status === "cancelled"];
            if (op.kind === "group") return [(answer.value as { cancelled: number }).cancelled > 0];
            return [];
          });
          for (const [i, op] of ops.entries()) {
            const answer = answers[i] as Answer;
            const named = answer.ok
              ? (answer.value as { task_id?: string }).task_id
              : answer.error instanceof HttpError
                ? (answer.error.details?.rescheduled_to as string | undefined)
                : undefined;
            if (named !== undefined)
              expect(ids, `${op.kind} named a task off the chain\n${info}`).toContain(named);
            if (!answer.ok) continue;
            const view = answer.value as { task_id?: string; status?: string; due_at?: string };
            if (op.kind === "delete" && view.status === "cancelled")
              expect(end?.status, info).toBe("cancelled");
            const isMove = op.kind.startsWith("patch") || op.kind.startsWith("run");
            if (isMove && view.status === "scheduled" && !cancels.includes(true)) {
              expect(view.task_id, `a move answered scheduled, not the chain's end\n${info}`).toBe(
                end?.taskId,
              );
            }
            const asked = op.kind === "patch-1200" ? 1_200 : op.kind.startsWith("patch") ? 60 : undefined;
            if (asked !== undefined && view.task_id !== id && view.due_at !== undefined) {
              expect(Date.parse(view.due_at), `moved before the time asked\n${info}`).toBeGreaterThanOrEqual(
                NOW + asked * 1000,
              );
            }
          }
        },
      ),
      propertyRuns(40),
    );
  });

  it("replay twice, by id and by filter, beside a discard: one replay at most answers it replayed the task, which then has a message on its queue", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom("failed", "delivered"),
        fc.boolean(),
        fc.array(fc.constantFrom("replay", "replay-again", "by-id", "by-filter", "discard"), {
          minLength: 2,
          maxLength: 5,
        }),
        async (finished, firstSendFails, ops) => {
          // Prepare: one task, dead-lettered or delivered a minute ago; the queue's first send fails, maybe
          const store = await freshStore();
          const task = makeTask({ group: "g", dueAtMs: NOW - 60_000, acceptedAtMs: NOW - 120_000 });
          await store.putNew(task);
          await store.startAttempt(task.taskId, NOW - 60_000);
          const expiresAt = retentionExpiry(NOW, 3);
          if (finished === "failed") {
            await store.markFailed(task.taskId, { error: "HTTP 500", atMs: NOW - 50_000, expiresAt });
          } else {
            const delivery = { atMs: NOW - 50_000, latenessMs: 0, deliveryLatencyMs: 10, expiresAt };
            await store.markDelivered(task.taskId, delivery);
          }
          const topicQueue = new FakeTopicQueue(() => NOW);
          let sends = 0;
          const send = topicQueue.sendReplay.bind(topicQueue);
          topicQueue.sendReplay = async (...args) => {
            if (firstSendFails && sends++ === 0) throw new Error("SQS unavailable");
            return send(...args);
          };
          const deps = {
            store,
            topicQueue,
            topicQueues: { demo: "https://sqs.test/demo.fifo" },
            scheduler: new FakeScheduler(),
            config: testConfig(),
            now: () => NOW,
          };

          // Act
          const requests: Record<(typeof ops)[number], () => Promise<unknown>> = {
            replay: () => replayTask(deps, task.taskId),
            "replay-again": () => replayTask(deps, task.taskId),
            "by-id": () => replayTopic(deps, "demo", { task_ids: [task.taskId] }),
            "by-filter": () => replayTopic(deps, "demo", {}),
            discard: () => cancelTask(deps, task.taskId),
          };
          const answers = await allAtOnce(ops.map((op) => requests[op]));

          // Assess
          const after = await store.get(task.taskId);
          const info = [
            `${finished} → ${after?.status}, replays ${after?.replays ?? 0}, messages ${topicQueue.enqueued.length}`,
            ...ops.map((op, i) => describeAnswer(op, answers[i] as Answer)),
          ].join("\n");
          for (const answer of answers) expectStructured(answer, info, firstSendFails);
          expect(["queued", "cancelled", finished], info).toContain(after?.status);
          if (after?.status === "queued") {
            expect(
              topicQueue.enqueued.some((m) => m.taskId === task.taskId),
              `queued, no message\n${info}`,
            ).toBe(true);
          }
          const replayedAnswers = ops.filter((op, i) => {
            const answer = answers[i] as Answer;
            if (!answer.ok) return false;
            if (op === "replay" || op === "replay-again") return true;
            return op !== "discard" && (answer.value as { replayed: number }).replayed > 0;
          }).length;
          const replayCalls = ops.filter((op) => op !== "discard").length;
          // Nothing finishes the task again meanwhile (no deliver runs), so one replay at most can have made it
          // go again; a replay whose send failed and was undone answered 503 and left its count behind.
          expect(replayedAnswers, `replayed twice\n${info}`).toBeLessThanOrEqual(1);
          expect(after?.replays ?? 0, info).toBeGreaterThanOrEqual(replayedAnswers);
          expect(after?.replays ?? 0, info).toBeLessThanOrEqual(replayCalls);
          if (replayedAnswers > 0 && after?.status !== "cancelled")
            expect(after?.status, info).toBe("queued");
          // A delivered task is cancelled only once a replay made it `queued` again (it is not discarded itself).
          if (finished === "delivered" && after?.status === "cancelled")
            expect(replayedAnswers, info).toBeGreaterThan(0);
        },
      ),
      propertyRuns(40),
    );
  });
});
