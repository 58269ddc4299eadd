import { randomBytes } from "node:crypto";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { withPartiql } from "#local/aws/partiql.js";
import { DynamoTaskStore } from "#shared/adapters/dynamo-task-store.js";
import { HttpError } from "#shared/api/errors.js";
import { CallbackSigner } from "#shared/security/signing.js";
import { cancelGroup } from "#shared/services/cancel-group.js";
import { cancelTask } from "#shared/services/cancel-task.js";
import { deliverBatch } from "#shared/services/deliver/index.js";
import { rescheduleTask, runTask } from "#shared/services/reschedule-task.js";
import { deliverDeps, testTopic } from "../../support/deliver-binding.js";
import { createTaskTable, type LocalDynamo, startDynalite } from "../../support/dynalite-table.js";
import { eventOf, fifoRecord, makeTask } from "../../support/factories.js";
import { FakeCallbacks, HTTP } from "../../support/fakes/callbacks.js";
import { MemoryMetrics } from "../../support/fakes/metrics.js";
import { FakeTopicQueue } from "../../support/fakes/topic-queue.js";
import { propertyRuns, propertyScale } from "../../support/fast-check-runs.js";
import { memoryLogger } from "../../support/logger.js";
import { FakeScheduler, FakeTimerQueue, NOW, testConfig } from "../api/fakes.js";

/**
 * An operator's move, run now, DELETE and group cancel sent at the instant a due task is delivered (its FIFO record
 * received, alone or with its group's head in a batch started up front), against DynamoDB (dynalite, the real store
 * over a real SDK client), whose conditional writes decide each race. Whatever order they land in:
 * - every answer is a 2xx or a structured 4xx;
 * - the task's id is called at most once, and not at all when a DELETE answered it `cancelled` (200), a group cancel
 *   counted it cancelled, or a move answered 200 with a new id (the successor would be a second callback under
 *   another `webhook-id`);
 * - once the batch is done, the task's item is finished, moved or still waiting: never left `delivering`.
 * A regression net for docs/API.md's "Racing its own delivery" (no defect found: it passes before and after).
 */
const TIMEOUT_MS = 60_000 * propertyScale();
const SIGNER = new CallbackSigner([`whsec_${randomBytes(32).toString("base64")}`]);

let dynamo: LocalDynamo;
let tables = 0;

beforeAll(async () => {
  // With the local cloud's PartiQL (deliver's batch writes are BatchExecuteStatements).
  dynamo = await startDynalite({ wrap: withPartiql });
});

afterAll(async () => {
  await dynamo?.stop();
});

type Answer =
  | { readonly ok: true; readonly value: unknown }
  | { readonly ok: false; readonly error: unknown };

const settle = (call: () => Promise<unknown>, delayMs: number): Promise<Answer> =>
  new Promise<void>((resolve) => setTimeout(resolve, delayMs)).then(call).then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );

const op = fc.record({
  kind: fc.constantFrom("patch", "run", "delete", "group"),
  delayMs: fc.integer({ min: 0, max: 3 }),
});

describe("operations racing a task's own delivery, against DynamoDB", { timeout: TIMEOUT_MS }, () => {
  it("a move, run now, DELETE or group cancel at the instant of delivery: exactly one wins, one webhook-id called at most once", async () => {
    let groups = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.boolean(),
        fc.integer({ min: 0, max: 3 }),
        fc.array(op, { minLength: 1, maxLength: 4 }),
        fc.constantFrom(204, 503),
        fc.boolean(),
        async (behindHead, deliverDelayMs, ops, answered, protectedTopic) => {
          // Prepare: a due task (behind its group's due head in one batch, or alone), its FIFO record received
          const tableName = `operations-vs-delivery-${++tables}`;
          await createTaskTable(dynamo.client, tableName);
          const store = new DynamoTaskStore({
            client: dynamo.client,
            tableName,
            nowSeconds: () => Math.floor(NOW / 1000),
          });
          const group = `race-${++groups}`;
          const due = (offsetMs: number) =>
            makeTask({ group, dueAtMs: NOW - 1_000 + offsetMs, acceptedAtMs: NOW - 10_000 });
          const task = due(1);
          const head = behindHead ? due(0) : undefined;
          for (const t of [head, task]) if (t) await store.putNew(t);
          const callbacks = new FakeCallbacks();
          callbacks.fallback = HTTP(answered);
          // When each callback was made and each answer given, in one order (a cancel's 200 is final: no call after).
          let clock = 0;
          const calledAt: number[] = [];
          const post = callbacks.post.bind(callbacks);
          callbacks.post = (request) => {
            if (request.headers["webhook-id"] === task.taskId) calledAt.push(++clock);
            return post(request);
          };
          const deliver = deliverDeps({
            store,
            topicQueue: new FakeTopicQueue(),
            metrics: new MemoryMetrics(),
            logger: memoryLogger(),
            clock: () => NOW,
            // A protected topic reads each task before its attempt and writes its outcome at once.
            topic: testTopic({ name: "demo", ...(protectedTopic ? { rateLimit: 1_000 } : {}) }),
            callbacks,
            signer: SIGNER,
          });
          const records = [head, task].flatMap((t) => (t ? [fifoRecord(t)] : []));
          const deps = {
            store,
            timerQueue: new FakeTimerQueue(),
            scheduler: new FakeScheduler(),
            config: testConfig(),
            now: () => NOW,
          };
          const requests = {
            patch: () => rescheduleTask(deps, task.taskId, { delay_seconds: 60 }),
            run: () => runTask(deps, task.taskId),
            delete: () => cancelTask(deps, task.taskId),
            group: () => cancelGroup(deps, { topic: "demo", value: group }, {}),
          };

          // Act: the batch and the operator's requests at once
          const [, ...answers] = await Promise.all([
            settle(
              () => deliverBatch(deliver, eventOf(...records), { getRemainingTimeInMillis: () => 60_000 }),
              deliverDelayMs,
            ),
            ...ops.map(({ kind, delayMs }) =>
              settle(requests[kind], delayMs).then((answer) => ({ answer, at: ++clock })),
            ),
          ]).then(([batch, ...rest]) => [batch, ...rest.map((r) => ({ ...r.answer, at: r.at }))]);

          // Assess
          const called = callbacks.calledFor().filter((id) => id === task.taskId).length;
          const after = await store.get(task.taskId);
          const info = [
            `behind head: ${behindHead}; answered ${answered}; protected ${protectedTopic}; called at ${calledAt}; item ${after?.status}`,
            ...ops.map((o, i) => {
              const a = answers[i] as Answer;
              return `${o.kind}: ${a.ok ? JSON.stringify(a.value).slice(0, 200) : String((a.error as Error).message)}`;
            }),
          ].join("\n");
          expect(called, info).toBeLessThanOrEqual(1);
          // Left delivering only waiting for its retry (its attempt failed and recorded), never in flight.
          if (after?.status === "delivering") expect(answered, info).toBe(503);
          for (const [i, { kind }] of ops.entries()) {
            const answer = answers[i] as Answer;
            if (!answer.ok) {
              expect(answer.error, info).toBeInstanceOf(HttpError);
              expect((answer.error as HttpError).status, info).toBeLessThan(500);
              continue;
            }
            const view = answer.value as { task_id?: string; status?: string; cancelled?: number };
            const { at } = answers[i] as Answer & { at: number };
            const calledAfter = calledAt.filter((t) => t > at).length;
            // A cancel answered 200 is final (one after a failed attempt, waiting for its retry, included).
            if (kind === "delete" && view.status === "cancelled") expect(calledAfter, info).toBe(0);
            if ((kind === "patch" || kind === "run") && view.task_id !== task.taskId)
              expect(called, info).toBe(0);
            if (kind === "group" && !behindHead && (view.cancelled ?? 0) > 0)
              expect(calledAfter, info).toBe(0);
          }
        },
      ),
      propertyRuns(40),
    );
  });
});
