import { readFileSync } from "node:fs";
import http from "node:http";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { e2eTarget, type Harness, startHarness } from "./support/harness.js";

const local = e2eTarget() === "local";

/**
 * Requests no route takes reach the stack's `$default` route, as on API Gateway, and answer the API's own error
 * body: 404 not_found for an unknown path, 405 method_not_allowed with `Allow` for a known path — never API
 * Gateway's bare `{"message":"Not Found"}`.
 */
let h: Harness;

beforeAll(async () => {
  h = await startHarness();
});

afterAll(async () => {
  await h?.stop();
});

describe("unmatched routes", () => {
  it("serves the committed OpenAPI document at GET /v1/openapi.json", async () => {
    const response = await h.api("GET", "/v1/openapi.json");
    expect(response.status).toBe(200);
    expect(response.json).toEqual(
      JSON.parse(readFileSync(new URL("../../docs/openapi.json", import.meta.url), "utf8")),
    );
  });

  it("an unknown path answers 404 not_found in the structured body", async () => {
    for (const [method, path] of [
      ["GET", "/v1/nothing-here"],
      ["POST", "/"],
      ["GET", "/v1/tasks/some-id/extra"],
      // A path whose percent-encoding does not decode matches no route (API Gateway decodes before matching).
      ["GET", "/v1/tasks/%ZZ"],
      ["POST", "/v1/topics/%E0%A4%A/pause"],
    ] as const) {
      const response = await h.api(method, path);
      expect(response.status, `${method} ${path}`).toBe(404);
      expect(response.headers.get("content-type")).toBe("application/json");
      expect(response.json).toEqual({ error: { code: "not_found", message: "no such route" } });
    }
  });

  it("a known path with another method answers 405 method_not_allowed with Allow", async () => {
    for (const [method, path, allow] of [
      ["DELETE", "/v1/tasks", "GET, POST"],
      ["PUT", "/v1/tasks", "GET, POST"],
      ["GET", "/v1/tasks/some-id/replay", "POST"],
      ["GET", "/v1/topics/demo/replay", "POST"],
      ["PUT", "/v1/tasks/some-id", "DELETE, GET, PATCH"],
      ["POST", "/v1/tasks/some-id", "DELETE, GET, PATCH"],
      ["GET", "/v1/topics/demo/pause", "POST"],
    ] as const) {
      const response = await h.api(method, path);
      expect(response.status, `${method} ${path}`).toBe(405);
      expect(response.headers.get("allow"), `${method} ${path}`).toBe(allow);
      expect(response.json.error?.code).toBe("method_not_allowed");
    }
  });
});

describe("repeated query keys", () => {
  it("a repeated key is a 400 naming it on every route, not API Gateway's comma-joined value", async () => {
    // Prepare: the local API server joins `?group=a&group=b` into "a,b" as API Gateway does, so without the
    // guard a list would show the (empty) group "a,b" and a group cancel would read it.
    const requests = [
      ["GET", "/v1/tasks?topic=demo&group=a&group=b", "group"],
      ["GET", "/v1/tasks?topic=demo&topic=small&status=failed", "topic"],
      ["POST", "/v1/topics/demo/groups/a/cancel?limit=1&limit=2", "limit"],
      ["GET", "/v1/schedules?topic=demo&topic=demo", "topic"],
      ["POST", "/v1/topics/demo/pause?x=1&x=2", "x"],
    ] as const;
    for (const [method, path, name] of requests) {
      // Act
      const response = await h.api(method, path);
      // Assess
      expect(response.status, `${method} ${path}`).toBe(400);
      expect(response.json.error, `${method} ${path}`).toMatchObject({
        code: "validation_failed",
        issues: [{ path: name, message: expect.stringContaining("more than once") }],
      });
    }
    expect((await h.api("GET", "/v1/topics/demo")).json.paused).toBe(false);
  });
});

describe("empty query values", () => {
  it("an empty `topic=` or `cursor=` is a 400 saying it must not be empty, as other messages say what must be", async () => {
    const requests = [
      ["/v1/tasks?topic=&status=failed", "topic"],
      ["/v1/tasks?topic=demo&status=failed&cursor=", "cursor"],
      ["/v1/schedules?topic=", "topic"],
      ["/v1/schedules?topic=demo&cursor=", "cursor"],
    ] as const;
    for (const [path, name] of requests) {
      const response = await h.api("GET", path);
      expect(response.status, path).toBe(400);
      expect(response.json.error, path).toMatchObject({
        code: "validation_failed",
        issues: [{ path: name, message: "must not be empty" }],
      });
    }
  });
});

describe("query values whose percent-encoding is not UTF-8", () => {
  it("a group named in Latin-1 (`caf%E9`) is a 400 naming `group`, nothing cancelled; its UTF-8 spelling cancels it", async () => {
    // Prepare: the local API server reads `caf%E9` as API Gateway's documented URL reading does, `caf\uFFFD`, a
    // group no task has: the list answered it empty and the cancel `cancelled: 0, more: false`, the group untouched.
    const group = `caf\u00e9-${Date.now()}`;
    const added = await h.api("POST", "/v1/tasks", {
      topic: "demo",
      delay_seconds: 3600,
      content: { order_id: group },
      callback: { url: `${h.receiver.url}/ok/latin1-group` },
    });
    expect(added.status, added.text).toBe(201);
    const latin1 = encodeURIComponent(group).replace("%C3%A9", "%E9");

    // Act
    const listed = await h.api("GET", `/v1/tasks?topic=demo&group=${latin1}`);
    const cancelled = await h.api("POST", `/v1/topics/demo/groups/-/cancel?group=${latin1}`);

    // Assess
    for (const response of [listed, cancelled]) {
      expect(response.status, response.text).toBe(400);
      expect(response.json.error).toMatchObject({
        code: "validation_failed",
        issues: [{ path: "group", message: expect.stringContaining("UTF-8") }],
      });
    }
    expect((await h.api("GET", `/v1/tasks/${added.json.task_id}`)).json.status).toBe("scheduled");
    const utf8 = await h.api("POST", `/v1/topics/demo/groups/-/cancel?group=${encodeURIComponent(group)}`);
    expect(utf8.json).toMatchObject({ cancelled: 1 });
  });
});

/**
 * A request sent raw, so a header can be sent twice (fetch joins repeats with ", " itself): each header once per
 * value of its list. The status and the parsed answer.
 */
function rawRequest(
  method: string,
  path: string,
  headers: Readonly<Record<string, string | readonly string[]>>,
  body?: Buffer | string,
): Promise<{ status: number; json: { error?: { code: string; message: string; issues?: unknown[] } } }> {
  return new Promise((resolve, reject) => {
    const sent = Object.fromEntries(Object.entries(headers).map(([name, value]) => [name, [value].flat()]));
    const req = http.request(`${h.cloud.apiUrl}${path}`, { method, headers: sent }, (res) => {
      const parts: Buffer[] = [];
      res.on("data", (part: Buffer) => parts.push(part));
      res.on("end", () =>
        resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(parts).toString() || "{}") }),
      );
    });
    req.on("error", reject);
    req.end(body);
  });
}

describe.runIf(local)("duplicates as API Gateway presents them, through the local API server", () => {
  // The local API server joins a repeated header's values with a comma and base64-encodes a body whose type is not
  // text, as API Gateway's payload 2.0 does (docs/API.md, "As API Gateway presents a request").
  it("two Idempotency-Keys, two Content-Types, a gzip or octet-stream body: a structured 4xx, no task added", async () => {
    // Prepare: a group of its own, listed after every request.
    const group = `dup-${Date.now()}`;
    const body = JSON.stringify({
      topic: "demo",
      delay_seconds: 3600,
      content: { order_id: group },
      callback: { url: `${h.receiver.url}/ok/duplicates` },
    });
    const json = "application/json";
    const requests = [
      [{ "content-type": json, "idempotency-key": ["a", "b"] }, body, 400, "validation_failed"],
      [{ "content-type": json, "idempotency-key": ["a", "a"] }, body, 400, "validation_failed"],
      [{ "content-type": [json, "text/plain"] }, body, 415, "unsupported_media_type"],
      [{ "content-type": [`${json};v=1`, "text/plain"] }, body, 415, "unsupported_media_type"],
      [{ "content-type": json, "content-encoding": "gzip" }, gzipSync(body), 415, "unsupported_media_type"],
      [
        { "content-type": json, "content-encoding": ["identity", "gzip"] },
        gzipSync(body),
        415,
        "unsupported_media_type",
      ],
      [{ "content-type": "application/octet-stream" }, body, 415, "unsupported_media_type"],
    ] as const;
    for (const [headers, sent, status, code] of requests) {
      // Act
      const answer = await rawRequest("POST", "/v1/tasks", headers, sent);
      // Assess
      expect(answer.status, JSON.stringify(headers)).toBe(status);
      expect(answer.json.error?.code, JSON.stringify(headers)).toBe(code);
    }
    const listed = await h.api("GET", `/v1/tasks?topic=demo&group=${group}`);
    expect(listed.json.tasks).toEqual([]);
    // The same add sent once, with a charset, is taken: the refusals above were the duplicates'.
    const taken = await rawRequest("POST", "/v1/tasks", { "content-type": `${json}; charset=utf-8` }, body);
    expect(taken.status).toBe(201);
  });

  it("`?limit=5&limit=500` and `?status=failed&status=delivered`: 400 naming the key, not the joined value", async () => {
    for (const [query, name] of [
      ["topic=demo&status=failed&limit=5&limit=500", "limit"],
      ["topic=demo&status=failed&status=delivered", "status"],
    ] as const) {
      const answer = await rawRequest("GET", `/v1/tasks?${query}`, {});
      expect(answer.status, query).toBe(400);
      expect(answer.json.error, query).toMatchObject({
        code: "validation_failed",
        issues: [{ path: name, message: expect.stringContaining("more than once") }],
      });
    }
  });
});
