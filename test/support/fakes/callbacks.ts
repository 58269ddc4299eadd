import type { CallbackClient, CallbackRequest, CallbackResult } from "#shared/adapters/callback-client.js";

/** A receiver's answer as the callback client reports it: 2xx is ok, anything else a failure `HTTP <status>`. */
export const HTTP = (status: number, durationMs = 20): CallbackResult =>
  status >= 200 && status < 300
    ? { ok: true, status, durationMs }
    : { ok: false, status, error: `HTTP ${status}`, durationMs };

/** The CallbackClient port: answers per task id (from `webhook-id`), records every request. */
export class FakeCallbacks implements CallbackClient {
  readonly requests: CallbackRequest[] = [];
  readonly answers = new Map<string, CallbackResult[]>();
  fallback: CallbackResult = { ok: true, status: 204, durationMs: 12 };

  answer(taskId: string, ...results: CallbackResult[]): this {
    this.answers.set(taskId, results);
    return this;
  }

  async post(request: CallbackRequest): Promise<CallbackResult> {
    this.requests.push(request);
    const queue = this.answers.get(request.headers["webhook-id"] ?? "");
    return queue?.shift() ?? this.fallback;
  }

  /** Task ids the receiver was called for, in order (duplicates included). */
  calledFor(): string[] {
    return this.requests.map((r) => r.headers["webhook-id"] ?? "");
  }

  async close(): Promise<void> {}
}
