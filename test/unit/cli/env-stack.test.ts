import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { topicSigningKey } from "#shared/security/signing.js";
import { stackName } from "../../../cli/connection.js";
import { main } from "../../../cli/main.js";
import { CloudFormationStandIn, type StandInOptions } from "../../support/cloudformation-stand-in.js";
import { taskViewAnswer } from "../client/fakes.js";

/**
 * `punctual --env NAME` against a stand-in for CloudFormation (and Secrets Manager) that speaks their wire protocols:
 * the CLI's real SDK clients find it through AWS_ENDPOINT_URL_CLOUDFORMATION / _SECRETS_MANAGER, sign with dummy
 * credentials, and the stand-in checks each request's credential scope. The API the stack's ApiUrl names is a small
 * HTTP server here that records what reached it.
 */

const BIN = path.resolve(import.meta.dirname, "../../../cli/bin/punctual.mjs");
const TASK_ID = "demo.n1.mhx0z8ka.01JD3ABCDEFGHJKMNPQRSTVWXY";
const REGION = "eu-west-1";
const SECRET_ARN = "arn:aws:secretsmanager:us-east-2:123456789012:secret:punctual-prod-signing-AbCdEf";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  vi.unstubAllEnvs();
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

/** An API that answers every GET with the task's view and records the paths asked for. */
async function apiServer(): Promise<{ url: string; paths: string[] }> {
  const paths: string[] = [];
  const server = http.createServer((request, response) => {
    paths.push(request.url ?? "");
    response.writeHead(200, { "content-type": "application/json" });
    response.end(JSON.stringify(taskViewAnswer(TASK_ID)));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanups.push(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, paths };
}

async function standIn(options: StandInOptions): Promise<CloudFormationStandIn> {
  const aws = new CloudFormationStandIn(options);
  await aws.start();
  cleanups.push(() => aws.close());
  return aws;
}

/** The process environment the SDK reads: the stand-in's, and nothing of the host's AWS setup. */
function awsEnvOf(aws: CloudFormationStandIn, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...aws.env(), ...extra };
  for (const name of [
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_ENDPOINT_URL",
  ]) {
    if (!(name in extra)) delete env[name];
  }
  return env;
}

/**
 * `punctual` started in-process, the SDK reading the process environment (stubbed for this test) as it does in the
 * bin; `printed` is called with each text it writes to stdout.
 */
function launch(
  argv: string[],
  aws: CloudFormationStandIn,
  extra: Record<string, string> = {},
  printed: (text: string) => void = () => {},
) {
  const env = awsEnvOf(aws, extra);
  for (const name of Object.keys(process.env)) if (!(name in env)) vi.stubEnv(name, undefined);
  for (const [name, value] of Object.entries(env)) vi.stubEnv(name, value);
  const out: string[] = [];
  const err: string[] = [];
  const io = {
    out: (t: string) => {
      out.push(t);
      printed(t);
    },
    err: (t: string) => void err.push(t),
    env,
  };
  return { exited: main(argv, io), out, err };
}

/** `punctual` in-process, to its exit. */
async function punctual(argv: string[], aws: CloudFormationStandIn, extra: Record<string, string> = {}) {
  const run = launch(argv, aws, extra);
  const code = await run.exited;
  return { code, out: run.out.join(""), err: run.err.join("") };
}

/**
 * `punctual` in-process with `extra` in the CliIo's environment only, not the process's (which the SDK reads): what
 * an embedder running `main` with its own environment gives.
 */
async function punctualWithIoEnv(argv: string[], aws: CloudFormationStandIn, extra: Record<string, string>) {
  const processEnv = awsEnvOf(aws);
  for (const name of Object.keys(process.env)) if (!(name in processEnv)) vi.stubEnv(name, undefined);
  for (const [name, value] of Object.entries(processEnv)) vi.stubEnv(name, value);
  const out: string[] = [];
  const err: string[] = [];
  const io = {
    out: (t: string) => void out.push(t),
    err: (t: string) => void err.push(t),
    env: { ...processEnv, ...extra },
  };
  const code = await main(argv, io);
  return { code, out: out.join(""), err: err.join("") };
}

const STOP_SIGNALS = ["SIGINT", "SIGTERM"] as const;

/**
 * `punctual … console` in-process, once it has printed its URL; `stop` does what Ctrl-C does, calling the signal
 * listeners the command added (not the test runner's own, which a SIGINT emitted on the process would call too) and
 * removing them, and is its exit code. Stopped in cleanup too (awaited), when the test did not.
 */
async function startConsole(argv: string[], aws: CloudFormationStandIn) {
  const before = new Set(STOP_SIGNALS.flatMap((signal) => process.listeners(signal)));
  let printUrl: (url: string) => void = () => {};
  const printedUrl = new Promise<string>((resolve) => {
    printUrl = resolve;
  });
  const run = launch(argv, aws, {}, (text) => {
    const url = /: (http:\/\/\S+)\n/.exec(text)?.[1];
    if (url) printUrl(url);
  });
  const failed = run.exited.then((code) => Promise.reject(new Error(`exit ${code}: ${run.err.join("")}`)));
  const url = await Promise.race([printedUrl, failed]);
  let stopped: Promise<number> | undefined;
  const stop = () => {
    stopped ??= (async () => {
      for (const signal of STOP_SIGNALS) {
        for (const listener of process.listeners(signal).filter((l) => !before.has(l))) {
          process.removeListener(signal, listener);
          listener(signal);
        }
      }
      return run.exited;
    })();
    return stopped;
  };
  cleanups.push(async () => void (await stop()));
  return { url, stop, err: run.err };
}

const prodStack = (outputs: Record<string, string>) => ({ name: stackName("prod"), outputs });

describe("punctual --env NAME finds the API in stack Punctual-<NAME>'s outputs", () => {
  it("tasks get reaches the API the ApiUrl output names, after one DescribeStacks signed for --region", async () => {
    // Arrange
    const api = await apiServer();
    const aws = await standIn({
      regions: { cloudformation: REGION },
      stacks: [prodStack({ ApiUrl: api.url, SigningSecretArn: SECRET_ARN })],
    });

    // Act
    const result = await punctual(
      ["--env", "prod", "--region", REGION, "--json", "tasks", "get", TASK_ID],
      aws,
    );

    // Assess
    expect(result.err).toBe("");
    expect(result.code).toBe(0);
    expect(JSON.parse(result.out)).toMatchObject({ task_id: TASK_ID, status: "scheduled" });
    expect(api.paths).toEqual([`/v1/tasks/${TASK_ID}`]);
    expect(aws.requests).toEqual([
      {
        service: "cloudformation",
        scope: { region: REGION, service: "cloudformation" },
        action: "DescribeStacks",
        params: { Action: "DescribeStacks", Version: "2010-05-15", StackName: "Punctual-prod" },
      },
    ]);
  });

  it("takes the region from AWS_REGION when --region is not given", async () => {
    // Arrange
    const api = await apiServer();
    const aws = await standIn({
      regions: { cloudformation: "ap-south-1" },
      stacks: [prodStack({ ApiUrl: api.url })],
    });

    // Act
    const result = await punctual(["--env", "prod", "tasks", "get", TASK_ID], aws, {
      AWS_REGION: "ap-south-1",
    });

    // Assess
    expect(result.code, result.err).toBe(0);
    expect(api.paths).toHaveLength(1);
    expect(aws.requests.map((r) => r.scope)).toEqual([{ region: "ap-south-1", service: "cloudformation" }]);
  });

  it("takes AWS_REGION from the CliIo's environment, not the process's", async () => {
    // Arrange: the region is in the environment `main` is given alone (the stack look-up read process.env)
    const api = await apiServer();
    const aws = await standIn({
      regions: { cloudformation: "ap-south-1" },
      stacks: [prodStack({ ApiUrl: api.url })],
    });

    // Act
    const result = await punctualWithIoEnv(["--env", "prod", "tasks", "get", TASK_ID], aws, {
      AWS_REGION: "ap-south-1",
    });

    // Assess
    expect(result.code, result.err).toBe(0);
    expect(api.paths).toHaveLength(1);
    expect(aws.requests.map((r) => r.scope)).toEqual([{ region: "ap-south-1", service: "cloudformation" }]);
  });

  it("takes the region from AWS_DEFAULT_REGION when neither --region nor AWS_REGION is given", async () => {
    // Arrange: the aws CLI's variable, which the client and `console` already read and the SDK's chain does not
    const api = await apiServer();
    const aws = await standIn({
      regions: { cloudformation: "ca-central-1" },
      stacks: [prodStack({ ApiUrl: api.url })],
    });

    // Act
    const result = await punctual(["--env", "prod", "tasks", "get", TASK_ID], aws, {
      AWS_DEFAULT_REGION: "ca-central-1",
    });

    // Assess
    expect(result.code, result.err).toBe(0);
    expect(api.paths).toHaveLength(1);
    expect(aws.requests.map((r) => r.scope)).toEqual([{ region: "ca-central-1", service: "cloudformation" }]);
  });

  it("the installed bin, in a new process, finds the stand-in through the SDK's endpoint variable alone", async () => {
    // Arrange
    const api = await apiServer();
    const aws = await standIn({
      regions: { cloudformation: REGION },
      stacks: [prodStack({ ApiUrl: api.url })],
    });
    const env = awsEnvOf(aws, { AWS_REGION: REGION, PUNCTUAL_API_URL: "" });

    // Act
    const result = await new Promise<{ code: number; out: string; err: string }>((resolve) => {
      execFile(
        process.execPath,
        [BIN, "--env", "prod", "--json", "tasks", "get", TASK_ID],
        { env },
        (e, out, err) => resolve({ code: typeof e?.code === "number" ? e.code : 0, out, err }),
      );
    });

    // Assess
    expect(result.code, result.err).toBe(0);
    expect(JSON.parse(result.out)).toMatchObject({ task_id: TASK_ID });
    expect(api.paths).toEqual([`/v1/tasks/${TASK_ID}`]);
    expect(aws.requests).toHaveLength(1);
  }, 30_000);

  it("a stack without an ApiUrl output: exit 3 naming the stack and the output, the API never called", async () => {
    // Arrange
    const aws = await standIn({
      regions: { cloudformation: REGION },
      stacks: [prodStack({ DashboardName: "d" })],
    });

    // Act
    const result = await punctual(["--env", "prod", "--region", REGION, "tasks", "get", TASK_ID], aws);

    // Assess
    expect(result.code).toBe(3);
    expect(result.err).toMatch(/stack Punctual-prod has no ApiUrl output/);
  });

  it("a stack that does not exist: exit 3 with CloudFormation's own words", async () => {
    // Arrange
    const aws = await standIn({ regions: { cloudformation: REGION }, stacks: [] });

    // Act
    const result = await punctual(
      ["--env", "prod", "--region", REGION, "--json", "tasks", "get", TASK_ID],
      aws,
    );

    // Assess
    expect(result.code).toBe(3);
    expect(JSON.parse(result.err).error.message).toMatch(/Stack with id Punctual-prod does not exist/);
    expect(aws.requests).toHaveLength(1);
  });

  it("no region anywhere: exit 1 before any look-up", async () => {
    // Arrange
    const aws = await standIn({ regions: { cloudformation: REGION }, stacks: [] });

    // Act
    const result = await punctual(["--env", "prod", "tasks", "get", TASK_ID], aws);

    // Assess
    expect(result.code).toBe(1);
    expect(result.err).toMatch(/region of stack Punctual-prod: give --region or set AWS_REGION/);
    expect(aws.requests).toEqual([]);
  });
});

describe("punctual --env NAME key: the SigningSecretArn output, then the secret from Secrets Manager", () => {
  it("reads the secret in the region of its ARN and prints the topic's key", async () => {
    // Arrange
    const secret = `whsec_${randomBytes(32).toString("base64")}`;
    const aws = await standIn({
      regions: { cloudformation: REGION, secretsmanager: "us-east-2" },
      stacks: [
        prodStack({
          ApiUrl: "https://abc123.execute-api.eu-west-1.amazonaws.com/",
          SigningSecretArn: SECRET_ARN,
        }),
      ],
      secrets: { [SECRET_ARN]: secret },
    });

    // Act
    const result = await punctual(["--env", "prod", "--region", REGION, "key", "--topic", "orders"], aws);

    // Assess
    expect(result.code, result.err).toBe(0);
    expect(result.out).toBe(`${topicSigningKey(secret, "orders")}\n`);
    expect(aws.requests.map(({ service, scope, action }) => ({ service, scope, action }))).toEqual([
      {
        service: "cloudformation",
        scope: { region: REGION, service: "cloudformation" },
        action: "DescribeStacks",
      },
      {
        service: "secretsmanager",
        scope: { region: "us-east-2", service: "secretsmanager" },
        action: "GetSecretValue",
      },
    ]);
    expect(aws.requests[1]?.params).toEqual({ SecretId: SECRET_ARN });
  });

  it("a stack without a SigningSecretArn output: exit 3 naming it, no secret read", async () => {
    // Arrange
    const aws = await standIn({
      regions: { cloudformation: REGION },
      stacks: [prodStack({ ApiUrl: "https://x/" })],
    });

    // Act
    const result = await punctual(["--env", "prod", "--region", REGION, "key", "--topic", "orders"], aws);

    // Assess
    expect(result.code).toBe(3);
    expect(result.err).toMatch(/stack Punctual-prod has no SigningSecretArn output/);
    expect(aws.requests.map((r) => r.service)).toEqual(["cloudformation"]);
  });

  it("a secret Secrets Manager cannot find: exit 3, its words", async () => {
    // Arrange
    const aws = await standIn({
      regions: { cloudformation: REGION, secretsmanager: "us-east-2" },
      stacks: [prodStack({ SigningSecretArn: SECRET_ARN })],
      secrets: {},
    });

    // Act
    const result = await punctual(["--env", "prod", "--region", REGION, "key", "--topic", "orders"], aws);

    // Assess
    expect(result.code).toBe(3);
    expect(result.err).toMatch(/can't find the specified secret/);
  });
});

describe("punctual --env NAME: an ApiUrl output the CLI must refuse as it refuses --api", () => {
  async function getWithApiUrl(apiUrl: string, ...global: string[]) {
    const aws = await standIn({
      regions: { cloudformation: REGION },
      stacks: [prodStack({ ApiUrl: apiUrl })],
    });
    return punctual(["--env", "prod", "--region", REGION, ...global, "tasks", "get", TASK_ID], aws);
  }

  it.each([
    ["not a URL", "abc123.execute-api.eu-west-1.amazonaws.com", /absolute URL/],
    ["not http(s)", "ftp://127.0.0.1:3000/", /http: or https:/],
    ["a user name and password in it", "https://user:s3cret@abc123.example.com/", /user name or password/],
  ])(
    "%s: exit 1, the message names the stack's output (not --api), no password echoed",
    async (_, url, why) => {
      // Act
      const result = await getWithApiUrl(url);

      // Assess
      expect(result.code).toBe(1);
      expect(result.err).toMatch(why);
      expect(result.err).toMatch(/stack Punctual-prod's ApiUrl output/);
      expect(result.err).not.toMatch(/--api/);
      expect(result.err).not.toContain("s3cret");
    },
  );

  it("plain http to another host with --auth jwt: exit 1 before the token is sent, naming the output", async () => {
    // Arrange
    const api = await apiServer();
    const token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJvcHMifQ.c2lnbmF0dXJl";
    const notLoopback = api.url.replace("127.0.0.1", "localtest.invalid");

    // Act
    const result = await getWithApiUrl(notLoopback, "--auth", "jwt", "--token", token);

    // Assess
    expect(result.code).toBe(1);
    expect(result.err).toMatch(/a JWT goes only over https/);
    expect(result.err).toMatch(/stack Punctual-prod's ApiUrl output/);
    expect(result.err).not.toContain(token);
    expect(api.paths).toEqual([]);
  });
});

describe("punctual --env NAME: CloudFormation answering what it should not", () => {
  it("the largest answer a stack can give (200 outputs of 4 KiB) still yields its ApiUrl", async () => {
    // Arrange
    const api = await apiServer();
    const outputs: Record<string, string> = {};
    for (let n = 0; n < 199; n++) outputs[`Output${n}`] = `v${n}`.padEnd(4096, "x");
    outputs.ApiUrl = api.url;
    const aws = await standIn({ regions: { cloudformation: REGION }, stacks: [prodStack(outputs)] });

    // Act
    const result = await punctual(["--env", "prod", "--region", REGION, "tasks", "get", TASK_ID], aws);

    // Assess
    expect(result.code, result.err).toBe(0);
    expect(api.paths).toHaveLength(1);
  });

  it.each([
    ["500 InternalFailure", { status: 500, code: "InternalFailure", message: "internal error" }],
    ["400 Throttling", { status: 400, code: "Throttling", message: "Rate exceeded" }],
  ])("%s twice, then the answer: the SDK's retries get the stack (3 requests, exit 0)", async (_, fault) => {
    // Arrange
    const api = await apiServer();
    const aws = await standIn({
      regions: { cloudformation: REGION },
      stacks: [prodStack({ ApiUrl: api.url })],
    });
    aws.failNext({ ...fault, times: 2 });

    // Act
    const result = await punctual(["--env", "prod", "--region", REGION, "tasks", "get", TASK_ID], aws);

    // Assess
    expect(result.code, result.err).toBe(0);
    expect(aws.requests).toHaveLength(3);
    expect(api.paths).toHaveLength(1);
  });

  it("throttled on every try: exit 3 (may be retried) after the SDK's 3 tries, the API never called", async () => {
    // Arrange
    const api = await apiServer();
    const aws = await standIn({
      regions: { cloudformation: REGION },
      stacks: [prodStack({ ApiUrl: api.url })],
    });
    aws.failNext({ status: 400, code: "Throttling", message: "Rate exceeded", times: 10 });

    // Act
    const result = await punctual(["--env", "prod", "--region", REGION, "tasks", "get", TASK_ID], aws);

    // Assess
    expect(result.code).toBe(3);
    expect(result.err).toMatch(/Rate exceeded/);
    expect(aws.requests).toHaveLength(3);
    expect(api.paths).toEqual([]);
  });

  it("two stacks of the name in one answer: exit 3, neither's API called (which one is meant is unknown)", async () => {
    // Arrange
    const first = await apiServer();
    const second = await apiServer();
    const aws = await standIn({
      regions: { cloudformation: REGION },
      stacks: [prodStack({ ApiUrl: first.url }), prodStack({ ApiUrl: second.url })],
    });

    // Act
    const result = await punctual(["--env", "prod", "--region", REGION, "tasks", "get", TASK_ID], aws);

    // Assess
    expect(result.code).toBe(3);
    expect(result.err).toMatch(/2 stacks named Punctual-prod/);
    expect([...first.paths, ...second.paths]).toEqual([]);
  });

  it("an answer holding only a stack of another name: exit 3, its API not called", async () => {
    // Arrange
    const api = await apiServer();
    const aws = await standIn({ regions: { cloudformation: REGION }, stacks: [] });
    aws.rawDescribeStacksBody =
      '<DescribeStacksResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><DescribeStacksResult>' +
      "<Stacks><member><StackName>Punctual-dev</StackName><StackStatus>CREATE_COMPLETE</StackStatus>" +
      `<CreationTime>2026-12-01T09:00:00.000Z</CreationTime><Outputs><member><OutputKey>ApiUrl</OutputKey><OutputValue>${api.url}</OutputValue>` +
      "</member></Outputs></member></Stacks></DescribeStacksResult></DescribeStacksResponse>";

    // Act
    const result = await punctual(["--env", "prod", "--region", REGION, "tasks", "get", TASK_ID], aws);

    // Assess
    expect(result.code).toBe(3);
    expect(result.err).toMatch(/Punctual-prod/);
    expect(api.paths).toEqual([]);
  });

  it("a stack that does not exist: the message says the region it was looked for in", async () => {
    // Arrange
    const aws = await standIn({ regions: { cloudformation: REGION }, stacks: [] });

    // Act
    const result = await punctual(["--env", "prod", "--region", REGION, "tasks", "get", TASK_ID], aws);

    // Assess
    expect(result.code).toBe(3);
    expect(result.err).toMatch(/stack Punctual-prod not found in eu-west-1/);
  });
});

describe("punctual --env NAME console: the console for the API stack Punctual-<NAME>'s ApiUrl names", () => {
  const consoleArgv = ["--env", "prod", "--region", REGION, "console", "--port", "0"];

  it("serves the console on loopback and proxies its API calls to that API; Ctrl-C stops it, exit 0", async () => {
    // Arrange
    const api = await apiServer();
    const aws = await standIn({
      regions: { cloudformation: REGION },
      stacks: [prodStack({ ApiUrl: api.url })],
    });

    // Act: open the printed URL (its token traded for the call secret), then ask for a task as the page does
    const running = await startConsole(consoleArgv, aws);
    const origin = new URL(running.url).origin;
    const opened = await fetch(running.url, { redirect: "manual" });
    await opened.arrayBuffer();
    const secret = new URL(opened.headers.get("location") ?? "", origin).hash.replace("#session=", "");
    const page = await fetch(`${origin}/console`);
    const task = await fetch(`${origin}/v1/tasks/${TASK_ID}`, {
      headers: { "x-punctual-console": "1", "x-punctual-session": secret },
    });
    const taskView = await task.json();
    await page.arrayBuffer();
    const code = await running.stop();

    // Assess
    expect(opened.status).toBe(303);
    expect(page.status).toBe(200);
    expect(task.status).toBe(200);
    expect(taskView).toMatchObject({ task_id: TASK_ID, status: "scheduled" });
    expect(api.paths).toEqual([`/v1/tasks/${TASK_ID}`]);
    expect(aws.requests.map((r) => r.action)).toEqual(["DescribeStacks"]);
    expect(code).toBe(0);
    await expect(fetch(running.url)).rejects.toThrow();
  });

  it("a stack that does not exist: exit 3, as the task commands, and no server started", async () => {
    // Arrange
    const aws = await standIn({ regions: { cloudformation: REGION }, stacks: [] });
    const listening = STOP_SIGNALS.map((signal) => process.listenerCount(signal));

    // Act
    const result = await punctual(consoleArgv, aws);

    // Assess
    expect(result.code).toBe(3);
    expect(result.err).toMatch(/stack Punctual-prod not found in eu-west-1/);
    expect(result.out).toBe("");
    expect(STOP_SIGNALS.map((signal) => process.listenerCount(signal))).toEqual(listening);
  });

  it("two stacks of the name: exit 3, neither's API proxied to, no server started", async () => {
    // Arrange
    const first = await apiServer();
    const second = await apiServer();
    const aws = await standIn({
      regions: { cloudformation: REGION },
      stacks: [prodStack({ ApiUrl: first.url }), prodStack({ ApiUrl: second.url })],
    });

    // Act
    const result = await punctual(consoleArgv, aws);

    // Assess
    expect(result.code).toBe(3);
    expect(result.err).toMatch(/2 stacks named Punctual-prod/);
    expect(result.out).toBe("");
    expect([...first.paths, ...second.paths]).toEqual([]);
  });
});

describe("the stand-in refuses what AWS refuses", () => {
  it("an unsigned DescribeStacks is a 403 MissingAuthenticationToken, recorded without a scope", async () => {
    // Arrange
    const aws = await standIn({
      regions: { cloudformation: REGION },
      stacks: [prodStack({ ApiUrl: "https://x/" })],
    });

    // Act
    const response = await fetch(aws.url, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "Action=DescribeStacks&Version=2010-05-15&StackName=Punctual-prod",
    });

    // Assess
    expect(response.status).toBe(403);
    expect(await response.text()).toMatch(/<Code>MissingAuthenticationToken<\/Code>/);
    expect(aws.requests[0]?.scope).toBeUndefined();
  });

  it("a DescribeStacks signed for another region is refused: the CLI exits 3 and sent the scope it used", async () => {
    // Arrange
    const aws = await standIn({
      regions: { cloudformation: REGION },
      stacks: [prodStack({ ApiUrl: "https://x/" })],
    });

    // Act
    const result = await punctual(["--env", "prod", "--region", "us-west-2", "tasks", "get", TASK_ID], aws);

    // Assess
    expect(result.code).toBe(3);
    expect(aws.requests[0]?.scope).toEqual({ region: "us-west-2", service: "cloudformation" });
  });
});

describe("punctual --env NAME and the other ways to name the API", () => {
  it("--env given wins over PUNCTUAL_API_URL in the environment: the stack's API is called, not the variable's", async () => {
    // Arrange: a shell with PUNCTUAL_API_URL exported for another environment (staging, local dev)
    const stack = await apiServer();
    const exported = await apiServer();
    const aws = await standIn({
      regions: { cloudformation: REGION },
      stacks: [prodStack({ ApiUrl: stack.url })],
    });

    // Act
    const result = await punctual(["--env", "prod", "--json", "tasks", "get", TASK_ID], aws, {
      AWS_REGION: REGION,
      PUNCTUAL_API_URL: exported.url,
    });

    // Assess
    expect(result.code, result.err).toBe(0);
    expect(exported.paths).toEqual([]);
    expect(stack.paths).toEqual([`/v1/tasks/${TASK_ID}`]);
  });

  it('--env "" (an unset shell variable) is exit 1 saying so, not the API PUNCTUAL_API_URL names', async () => {
    // Arrange
    const exported = await apiServer();
    const aws = await standIn({ regions: { cloudformation: REGION }, stacks: [] });

    // Act
    const result = await punctual(["--env", "", "--json", "tasks", "get", TASK_ID], aws, {
      AWS_REGION: REGION,
      PUNCTUAL_API_URL: exported.url,
    });

    // Assess
    expect(result.code).toBe(1);
    expect(JSON.parse(result.err).error.message).toMatch(/--env is empty/);
    expect(exported.paths).toEqual([]);
    expect(aws.requests).toEqual([]);
  });

  it("--api and --env both given: exit 1 naming both, nothing looked up or sent", async () => {
    // Arrange
    const stack = await apiServer();
    const other = await apiServer();
    const aws = await standIn({
      regions: { cloudformation: REGION },
      stacks: [prodStack({ ApiUrl: stack.url })],
    });

    // Act
    const result = await punctual(
      ["--api", other.url, "--env", "prod", "--json", "tasks", "cancel", TASK_ID],
      aws,
      { AWS_REGION: REGION },
    );

    // Assess
    expect(result.code).toBe(1);
    expect(JSON.parse(result.err).error).toMatchObject({ code: "usage" });
    expect(result.err).toMatch(/--api.*--env/);
    expect(result.out).toBe("");
    expect(other.paths).toEqual([]);
    expect(stack.paths).toEqual([]);
    expect(aws.requests).toEqual([]);
  });
});
