import { vi } from "vitest";

/** A request the console page sent through `fetch`: its method, path and JSON body (undefined without one). */
export interface SentRequest {
  readonly method: string;
  readonly path: string;
  readonly body: unknown;
}

/**
 * Stubs the global `fetch` the console's page modules call, answering each request with `answer`; returns what
 * was sent, in order. Undo with `vi.unstubAllGlobals()` after each test.
 */
export function stubConsoleFetch(answer: (sent: SentRequest) => Response | Promise<Response>): SentRequest[] {
  const sent: SentRequest[] = [];
  vi.stubGlobal("fetch", async (path: string, init: RequestInit) => {
    const request = {
      method: init.method ?? "GET",
      path,
      body: init.body ? JSON.parse(String(init.body)) : undefined,
    };
    sent.push(request);
    return answer(request);
  });
  return sent;
}

/** A JSON answer with `status`. */
export const jsonAnswer = (status: number, body: unknown): Response =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
