/**
 * docs/API.md's least-privilege producer policy (`execute-api:Invoke`), evaluated with iam-simulate against the
 * ARN API Gateway presents for a request: `arn:aws:execute-api:<region>:<account>:<api-id>/<stage>/<METHOD>/<path>`,
 * the stage `$default` (the only stage the stack makes) and the path as requested (path parameters are values,
 * not `{id}`). A producer may add tasks (alone and in batches) and nothing else.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { API_ROUTE_KEYS } from "#shared/api/routes.js";
import { evaluate } from "../../support/iam.js";

const API_DOC = readFileSync(new URL("../../../docs/API.md", import.meta.url), "utf8");
/** The example values the documented policy names. */
const REGION = "eu-west-1";
const ACCOUNT = "111122223333";
const API_ID = "a1b2c3d4e5";
const PRODUCER = `arn:aws:iam::${ACCOUNT}:role/order-service`;

/** The ```json block of docs/API.md's section that follows `marker`. */
function policyAfter(marker: string): unknown {
  const at = API_DOC.indexOf(marker);
  expect(at, `docs/API.md has no "${marker}"`).toBeGreaterThanOrEqual(0);
  const block = /```json\n([\s\S]*?)\n```/.exec(API_DOC.slice(at));
  expect(block, `no json block after "${marker}"`).not.toBeNull();
  return JSON.parse(block?.[1] ?? "");
}

/** A request of each route, its path parameters given values as a caller sends them. */
const ROUTE_REQUESTS = API_ROUTE_KEYS.map((key) =>
  key
    .replace("{id}", "01JD3Q8Z9X4W5V6T7S8R9QAB0C")
    .replace("{topic}", "orders")
    .replace("{value}", "_")
    .replace("{host}", "api.example.com"),
);
/** Requests no route matches: API Gateway sends them to `$default`, IAM-checked on the path as sent. */
const UNMATCHED_REQUESTS = [
  "OPTIONS /v1/tasks",
  "HEAD /v1/tasks/01JD3Q8Z9X4W5V6T7S8R9QAB0C",
  "PUT /v1/tasks",
  "POST /v1/tasks/",
  "POST /v1/tasks/batch/",
  "GET /v1",
];

async function decisionFor(policy: unknown, request: string): Promise<string> {
  const [method, path] = request.split(" ") as [string, string];
  return evaluate({
    principal: PRODUCER,
    action: "execute-api:Invoke",
    resource: `arn:aws:execute-api:${REGION}:${ACCOUNT}:${API_ID}/$default/${method}${path}`,
    resourceAccount: ACCOUNT,
    identityPolicies: [{ name: "punctual-producer", policy }],
  });
}

describe("docs/API.md's producer policy (execute-api:Invoke)", () => {
  it("allows adding tasks, alone and in batches, and no other route or unmatched request", async () => {
    // Prepare
    const policy = policyAfter("**A producer's policy**");

    // Act
    const allowed: string[] = [];
    for (const request of [...ROUTE_REQUESTS, ...UNMATCHED_REQUESTS])
      if ((await decisionFor(policy, request)) === "Allowed") allowed.push(request);

    // Assess
    expect(allowed).toEqual(["POST /v1/tasks", "POST /v1/tasks/batch"]);
  });

  it("the wildcard docs/API.md warns against would also allow replay and run now", async () => {
    // Prepare: the documented policy with its two resources replaced by one `POST/v1/tasks*`.
    const policy = policyAfter("**A producer's policy**") as {
      Statement: { Resource: string[] }[];
    };
    const [statement] = policy.Statement;
    const wildcard = {
      ...policy,
      Statement: [{ ...statement, Resource: statement?.Resource[0]?.replace(/tasks$/, "tasks*") }],
    };

    // Act
    const replay = await decisionFor(wildcard, "POST /v1/tasks/01JD3Q8Z9X4W5V6T7S8R9QAB0C/replay");
    const run = await decisionFor(wildcard, "POST /v1/tasks/01JD3Q8Z9X4W5V6T7S8R9QAB0C/run");

    // Assess
    expect(API_DOC).toContain("`POST/v1/tasks*`");
    expect([replay, run]).toEqual(["Allowed", "Allowed"]);
  });
});

describe("a route with the topic in its path can be granted per topic (docs/API.md)", () => {
  it("an Invoke on POST/v1/topics/orders/pause pauses orders only", async () => {
    // Prepare
    expect(API_DOC).toContain("`POST/v1/topics/orders/pause`");
    const policy = {
      Version: "2012-10-17",
      Statement: [
        {
          Effect: "Allow",
          Action: "execute-api:Invoke",
          Resource: `arn:aws:execute-api:${REGION}:${ACCOUNT}:${API_ID}/$default/POST/v1/topics/orders/pause`,
        },
      ],
    };

    // Act
    const orders = await decisionFor(policy, "POST /v1/topics/orders/pause");
    const payments = await decisionFor(policy, "POST /v1/topics/payments/pause");

    // Assess
    expect([orders, payments]).toEqual(["Allowed", "ImplicitlyDenied"]);
  });
});
