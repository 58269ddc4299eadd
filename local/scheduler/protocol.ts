import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { type ConstraintViolation, SchedulerError, validationError } from "./errors.js";
import { isValidTimeZone, parseScheduleExpression } from "./expression.js";
import {
  DEFAULT_GROUP,
  type FlexibleTimeWindow,
  type GroupRecord,
  type RetryPolicy,
  type ScheduleDefinition,
  type ScheduleRecord,
  type ScheduleStore,
  type Tag,
  type Target,
} from "./store.js";

/**
 * The restJson1 binding of EventBridge Scheduler, as in the service model the AWS SDK is generated from
 * (@aws-sdk/client-scheduler): operation = HTTP method + path, names in path labels, `groupName`/`clientToken`
 * and list filters in the query string, timestamps as epoch seconds, errors named by `x-amzn-errortype`.
 */
export function createRequestHandler(store: ScheduleStore) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    handle(store, req)
      .then((body) => sendJson(res, 200, body))
      .catch((error: unknown) => {
        if (error instanceof SchedulerError) {
          sendJson(res, error.status, { Message: error.message }, error.type);
        } else {
          sendJson(res, 500, { Message: String(error) }, "InternalServerException");
        }
      });
  };
}

const MAX_BODY_BYTES = 1024 * 1024;

/** One request, parsed: what the operations read. */
interface Call {
  readonly store: ScheduleStore;
  readonly method: string;
  readonly query: URLSearchParams;
  readonly body: Record<string, unknown>;
}

/** No operation has this method and path. */
const UNMATCHED = Symbol("unmatched");

async function handle(store: ScheduleStore, req: IncomingMessage): Promise<unknown> {
  const url = new URL(req.url ?? "/", "http://localhost");
  const segments = pathSegments(url);
  const method = req.method ?? "GET";
  const query = url.searchParams;
  const body = method === "POST" || method === "PUT" ? await readJson(req) : {};
  const answer = operate({ store, method, query, body }, segments);
  if (answer === UNMATCHED) {
    throw new SchedulerError("UnknownOperationException", `No operation matches ${method} ${url.pathname}`);
  }
  return answer;
}

function pathSegments(url: URL): string[] {
  try {
    return url.pathname.split("/").slice(1).map(decodeURIComponent);
  } catch {
    throw new SchedulerError("ValidationException", "The request path is not valid.");
  }
}

function operate(call: Call, segments: string[]): unknown {
  const { store, method, query } = call;
  const [resource, label] = segments;
  if (resource === "schedules" && segments.length === 1 && method === "GET") {
    return listSchedules(store, query);
  }
  if (resource === "schedules" && segments.length === 2 && label !== undefined) {
    return scheduleOperation(call, label);
  }
  if (resource === "schedule-groups" && segments.length === 1 && method === "GET") {
    const page = store.listGroups(pageQuery(query));
    return { ScheduleGroups: page.items.map(groupOutput), ...nextToken(page.nextToken) };
  }
  if (resource === "schedule-groups" && segments.length === 2 && label !== undefined) {
    return groupOperation(call, label);
  }
  if (resource === "tags" && segments.length === 2 && label !== undefined) {
    return tagOperation(call, label);
  }
  return UNMATCHED;
}

function scheduleOperation({ store, method, query, body }: Call, label: string): unknown {
  switch (method) {
    case "POST": {
      const { definition, clientToken } = parseScheduleInput(label, body);
      return { ScheduleArn: store.createSchedule(definition, clientToken).Arn };
    }
    case "PUT": {
      const { definition, clientToken } = parseScheduleInput(label, body);
      return { ScheduleArn: store.updateSchedule(definition, clientToken).Arn };
    }
    case "GET":
      return scheduleOutput(store.getSchedule(groupParam(query), checkName("name", label)));
    case "DELETE":
      store.deleteSchedule(groupParam(query), checkName("name", label));
      return {};
  }
  return UNMATCHED;
}

function groupOperation({ store, method, body }: Call, label: string): unknown {
  switch (method) {
    case "POST": {
      const check = new Checker();
      const name = check.name("name", label);
      const tags = check.tags("tags", body.Tags);
      const clientToken = check.clientToken(body.ClientToken);
      check.done();
      return { ScheduleGroupArn: store.createGroup(name, tags, clientToken).Arn };
    }
    case "GET":
      return groupOutput(store.getGroup(checkName("name", label)));
    case "DELETE":
      store.deleteGroup(checkName("name", label));
      return {};
  }
  return UNMATCHED;
}

function tagOperation({ store, method, query, body }: Call, label: string): unknown {
  switch (method) {
    case "GET":
      return { Tags: store.listTags(label) };
    case "POST": {
      const check = new Checker();
      const tags = check.tags("tags", body.Tags, true);
      check.done();
      store.tagResource(label, tags);
      return {};
    }
    case "DELETE":
      store.untagResource(label, query.getAll("TagKeys"));
      return {};
  }
  return UNMATCHED;
}

function sendJson(res: ServerResponse, status: number, body: unknown, errorType?: string): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
    "x-amzn-requestid": randomUUID(),
    ...(errorType ? { "x-amzn-errortype": errorType } : {}),
  });
  res.end(text);
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES)
      throw new SchedulerError("ValidationException", "The request body is too large.");
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString("utf8").trim();
  if (text === "") return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new SchedulerError("SerializationException", "The request body is not valid JSON.");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new SchedulerError("SerializationException", "The request body must be a JSON object.");
  }
  return parsed as Record<string, unknown>;
}

// --- input -------------------------------------------------------------------------------------------------

const NAME = /^[0-9a-zA-Z-_.]+$/;
const CLIENT_TOKEN = /^[a-zA-Z0-9-_]+$/;
const ROLE_ARN = /^arn:aws(-[a-z]+)?:iam::\d{12}:role\/[\w+=,.@/-]+$/;
const DLQ_ARN = /^arn:aws(-[a-z]+)?:sqs:[a-z0-9-]+:\d{12}:[a-zA-Z0-9\-_]+$/;
/**
 * The model's KmsKeyArn shape (1–2048 characters, this pattern; botocore scheduler/2021-06-30/service-2.json): a key
 * or an alias of KMS in some region and account. Anything else (another service's ARN, a bare key id, an alias
 * name) is AWS's ValidationException, which the emulator used to store and return as given.
 */
const KMS_KEY_ARN = /^arn:aws(-[a-z]+)?:kms:[a-z0-9-]+:\d{12}:(key|alias)\/[0-9a-zA-Z-_]*$/;
const PASSTHROUGH_TARGET_PARAMETERS = [
  "EcsParameters",
  "EventBridgeParameters",
  "KinesisParameters",
  "SageMakerPipelineParameters",
] as const;

interface StringRule {
  readonly required?: boolean;
  readonly min?: number;
  readonly max?: number;
  readonly pattern?: RegExp;
  readonly values?: readonly string[];
}

/** Collects every violated constraint of a request, so one ValidationException lists them all, like AWS. */
class Checker {
  private readonly violations: ConstraintViolation[] = [];

  fail(path: string, value: unknown, constraint: string): void {
    this.violations.push({ path, value, constraint });
  }

  done(): void {
    if (this.violations.length > 0) throw validationError(this.violations);
  }

  string(path: string, value: unknown, rule: StringRule = {}): string | undefined {
    if (value === undefined || value === null) {
      if (rule.required) this.fail(path, value, "Member must not be null");
      return undefined;
    }
    if (typeof value !== "string") {
      this.fail(path, value, "Member must be a string");
      return undefined;
    }
    let ok = true;
    if (rule.min !== undefined && value.length < rule.min) {
      this.fail(path, value, `Member must have length greater than or equal to ${rule.min}`);
      ok = false;
    }
    if (rule.max !== undefined && value.length > rule.max) {
      this.fail(path, value, `Member must have length less than or equal to ${rule.max}`);
      ok = false;
    }
    if (rule.pattern && value.length > 0 && !rule.pattern.test(value)) {
      this.fail(path, value, `Member must satisfy regular expression pattern: ${rule.pattern.source}`);
      ok = false;
    }
    if (rule.values && !rule.values.includes(value)) {
      this.fail(path, value, `Member must satisfy enum value set: [${rule.values.join(", ")}]`);
      ok = false;
    }
    return ok ? value : undefined;
  }

  integer(path: string, value: unknown, min: number, max: number, required = false): number | undefined {
    if (value === undefined || value === null) {
      if (required) this.fail(path, value, "Member must not be null");
      return undefined;
    }
    if (typeof value !== "number" || !Number.isInteger(value)) {
      this.fail(path, value, "Member must be an integer");
      return undefined;
    }
    if (value < min) this.fail(path, value, `Member must have value greater than or equal to ${min}`);
    else if (value > max) this.fail(path, value, `Member must have value less than or equal to ${max}`);
    else return value;
    return undefined;
  }

  /** restJson1 timestamps travel as epoch seconds (fractions allowed). */
  timestamp(path: string, value: unknown): number | undefined {
    if (value === undefined || value === null) return undefined;
    if (typeof value !== "number" || !Number.isFinite(value)) {
      this.fail(path, value, "Member must be a timestamp in epoch seconds");
      return undefined;
    }
    return value;
  }

  object(path: string, value: unknown, required = false): Record<string, unknown> | undefined {
    if (value === undefined || value === null) {
      if (required) this.fail(path, value, "Member must not be null");
      return undefined;
    }
    if (typeof value !== "object" || Array.isArray(value)) {
      this.fail(path, value, "Member must be a structure");
      return undefined;
    }
    return value as Record<string, unknown>;
  }

  name(path: string, value: unknown): string {
    return this.string(path, value, { required: true, min: 1, max: 64, pattern: NAME }) ?? "";
  }

  clientToken(value: unknown): string | undefined {
    return this.string("clientToken", value, { min: 1, max: 64, pattern: CLIENT_TOKEN });
  }

  tags(path: string, value: unknown, required = false): Tag[] {
    if (value === undefined || value === null) {
      if (required) this.fail(path, value, "Member must not be null");
      return [];
    }
    if (!Array.isArray(value) || value.length > 200) {
      this.fail(path, value, "Member must be a list of at most 200 tags");
      return [];
    }
    return value.flatMap((item: unknown, i) => {
      const tag = this.object(`${path}.${i + 1}.member`, item, true);
      const key = this.string(`${path}.${i + 1}.member.key`, tag?.Key, { required: true, min: 1, max: 128 });
      const tagValue = this.string(`${path}.${i + 1}.member.value`, tag?.Value, { required: true, max: 256 });
      return key !== undefined && tagValue !== undefined ? [{ Key: key, Value: tagValue }] : [];
    });
  }
}

function checkName(path: string, value: string): string {
  const check = new Checker();
  const name = check.name(path, value);
  check.done();
  return name;
}

function groupParam(query: URLSearchParams): string {
  const group = query.get("groupName");
  return group === null ? DEFAULT_GROUP : checkName("groupName", group);
}

function parseScheduleInput(
  label: string,
  body: Record<string, unknown>,
): { definition: ScheduleDefinition; clientToken: string | undefined } {
  const check = new Checker();
  const name = check.name("name", label);
  const groupName =
    body.GroupName === undefined
      ? DEFAULT_GROUP
      : check.string("groupName", body.GroupName, { min: 1, max: 64, pattern: NAME });
  const expression = check.string("scheduleExpression", body.ScheduleExpression, {
    required: true,
    min: 1,
    max: 256,
  });
  const timezone = check.string("scheduleExpressionTimezone", body.ScheduleExpressionTimezone, {
    min: 1,
    max: 50,
  });
  const description = check.string("description", body.Description, { max: 512 });
  const state = check.string("state", body.State, { values: ["ENABLED", "DISABLED"] });
  const action = check.string("actionAfterCompletion", body.ActionAfterCompletion, {
    values: ["NONE", "DELETE"],
  });
  const kmsKeyArn = check.string("kmsKeyArn", body.KmsKeyArn, {
    min: 1,
    max: 2048,
    pattern: KMS_KEY_ARN,
  });
  const startDate = check.timestamp("startDate", body.StartDate);
  const endDate = check.timestamp("endDate", body.EndDate);
  const clientToken = check.clientToken(body.ClientToken);
  const window = parseWindow(check, body.FlexibleTimeWindow);
  const target = parseTarget(check, body.Target);
  check.done();
  if (expression === undefined || window === undefined || target === undefined || groupName === undefined) {
    throw new SchedulerError("ValidationException", "The request is not valid.");
  }

  if (!parseScheduleExpression(expression)) {
    throw new SchedulerError("ValidationException", `Invalid Schedule Expression ${expression}.`);
  }
  if (timezone !== undefined && !isValidTimeZone(timezone)) {
    throw new SchedulerError("ValidationException", `Invalid ScheduleExpressionTimezone ${timezone}.`);
  }
  if (startDate !== undefined && endDate !== undefined && endDate <= startDate) {
    throw new SchedulerError("ValidationException", "The EndDate you specify must be after the StartDate.");
  }

  const definition: ScheduleDefinition = {
    Name: name,
    GroupName: groupName,
    ScheduleExpression: expression,
    ...(timezone === undefined ? {} : { ScheduleExpressionTimezone: timezone }),
    ...(description === undefined ? {} : { Description: description }),
    State: state === "DISABLED" ? "DISABLED" : "ENABLED",
    ...(startDate === undefined ? {} : { StartDate: startDate }),
    ...(endDate === undefined ? {} : { EndDate: endDate }),
    ...(kmsKeyArn === undefined ? {} : { KmsKeyArn: kmsKeyArn }),
    Target: target,
    FlexibleTimeWindow: window,
    ActionAfterCompletion: action === "DELETE" ? "DELETE" : "NONE",
  };
  return { definition, clientToken };
}

function parseWindow(check: Checker, value: unknown): FlexibleTimeWindow | undefined {
  const window = check.object("flexibleTimeWindow", value, true);
  if (!window) return undefined;
  const mode = check.string("flexibleTimeWindow.mode", window.Mode, {
    required: true,
    values: ["OFF", "FLEXIBLE"],
  });
  const minutes = check.integer(
    "flexibleTimeWindow.maximumWindowInMinutes",
    window.MaximumWindowInMinutes,
    1,
    1440,
  );
  if (mode === "FLEXIBLE" && minutes === undefined && window.MaximumWindowInMinutes === undefined) {
    check.fail(
      "flexibleTimeWindow.maximumWindowInMinutes",
      undefined,
      "Member must not be null when Mode is FLEXIBLE",
    );
  }
  if (mode === undefined) return undefined;
  // A window given with Mode OFF is ignored rather than refused (AWS's behaviour here is undocumented).
  return mode === "FLEXIBLE"
    ? { Mode: "FLEXIBLE", ...(minutes === undefined ? {} : { MaximumWindowInMinutes: minutes }) }
    : { Mode: "OFF" };
}

function parseTarget(check: Checker, value: unknown): Target | undefined {
  const target = check.object("target", value, true);
  if (!target) return undefined;
  const arn = check.string("target.arn", target.Arn, { required: true, min: 1, max: 1600 });
  const roleArn = check.string("target.roleArn", target.RoleArn, {
    required: true,
    min: 1,
    max: 1600,
    pattern: ROLE_ARN,
  });
  const input = check.string("target.input", target.Input, { min: 1 });

  const dlq = check.object("target.deadLetterConfig", target.DeadLetterConfig);
  const dlqArn = dlq
    ? check.string("target.deadLetterConfig.arn", dlq.Arn, { min: 1, max: 1600, pattern: DLQ_ARN })
    : undefined;

  const retry = check.object("target.retryPolicy", target.RetryPolicy);
  let retryPolicy: RetryPolicy | undefined;
  if (retry) {
    const age = check.integer(
      "target.retryPolicy.maximumEventAgeInSeconds",
      retry.MaximumEventAgeInSeconds,
      60,
      86_400,
    );
    const attempts = check.integer(
      "target.retryPolicy.maximumRetryAttempts",
      retry.MaximumRetryAttempts,
      0,
      185,
    );
    retryPolicy = {
      ...(age === undefined ? {} : { MaximumEventAgeInSeconds: age }),
      ...(attempts === undefined ? {} : { MaximumRetryAttempts: attempts }),
    };
  }

  const sqs = check.object("target.sqsParameters", target.SqsParameters);
  const groupId = sqs
    ? check.string("target.sqsParameters.messageGroupId", sqs.MessageGroupId, { min: 1, max: 128 })
    : undefined;

  const passthrough: Record<string, unknown> = {};
  for (const key of PASSTHROUGH_TARGET_PARAMETERS) {
    const parameters = check.object(`target.${key[0]?.toLowerCase()}${key.slice(1)}`, target[key]);
    if (parameters) passthrough[key] = parameters;
  }

  if (arn === undefined || roleArn === undefined) return undefined;
  return {
    ...passthrough,
    Arn: arn,
    RoleArn: roleArn,
    ...(input === undefined ? {} : { Input: input }),
    ...(dlq ? { DeadLetterConfig: dlqArn === undefined ? {} : { Arn: dlqArn } } : {}),
    ...(retryPolicy ? { RetryPolicy: retryPolicy } : {}),
    ...(sqs ? { SqsParameters: groupId === undefined ? {} : { MessageGroupId: groupId } } : {}),
  };
}

function pageQuery(query: URLSearchParams): { namePrefix?: string; maxResults: number; nextToken?: string } {
  const check = new Checker();
  const namePrefix = check.string("namePrefix", query.get("NamePrefix") ?? undefined, {
    min: 1,
    max: 64,
    pattern: NAME,
  });
  const nextToken = check.string("nextToken", query.get("NextToken") ?? undefined, { min: 1, max: 2048 });
  const rawMax = query.get("MaxResults");
  const maxResults = rawMax === null ? 100 : check.integer("maxResults", Number(rawMax), 1, 100);
  check.done();
  return {
    ...(namePrefix === undefined ? {} : { namePrefix }),
    ...(nextToken === undefined ? {} : { nextToken }),
    maxResults: maxResults ?? 100,
  };
}

function listSchedules(store: ScheduleStore, query: URLSearchParams): unknown {
  const paging = pageQuery(query);
  const check = new Checker();
  const groupName = check.string("groupName", query.get("ScheduleGroup") ?? undefined, {
    min: 1,
    max: 64,
    pattern: NAME,
  });
  const state = check.string("state", query.get("State") ?? undefined, { values: ["ENABLED", "DISABLED"] });
  check.done();
  const page = store.listSchedules({
    ...paging,
    ...(groupName === undefined ? {} : { groupName }),
    ...(state === "ENABLED" || state === "DISABLED" ? { state } : {}),
  });
  return {
    Schedules: page.items.map((r) => ({
      Arn: r.Arn,
      CreationDate: r.CreationDate,
      GroupName: r.GroupName,
      LastModificationDate: r.LastModificationDate,
      Name: r.Name,
      State: r.State,
      Target: { Arn: r.Target.Arn },
    })),
    ...nextToken(page.nextToken),
  };
}

// --- output ------------------------------------------------------------------------------------------------

const nextToken = (token: string | undefined) => (token === undefined ? {} : { NextToken: token });

/** GetSchedule fills in the defaults AWS applies (RetryPolicy 185 attempts / 24 h, UTC). */
function scheduleOutput(r: ScheduleRecord): unknown {
  return {
    ActionAfterCompletion: r.ActionAfterCompletion,
    Arn: r.Arn,
    CreationDate: r.CreationDate,
    ...(r.Description === undefined ? {} : { Description: r.Description }),
    ...(r.EndDate === undefined ? {} : { EndDate: r.EndDate }),
    FlexibleTimeWindow: r.FlexibleTimeWindow,
    GroupName: r.GroupName,
    ...(r.KmsKeyArn === undefined ? {} : { KmsKeyArn: r.KmsKeyArn }),
    LastModificationDate: r.LastModificationDate,
    Name: r.Name,
    ScheduleExpression: r.ScheduleExpression,
    ScheduleExpressionTimezone: r.ScheduleExpressionTimezone ?? "UTC",
    ...(r.StartDate === undefined ? {} : { StartDate: r.StartDate }),
    State: r.State,
    Target: {
      ...r.Target,
      RetryPolicy: {
        MaximumEventAgeInSeconds: 86_400,
        MaximumRetryAttempts: 185,
        ...r.Target.RetryPolicy,
      },
    },
  };
}

function groupOutput(g: GroupRecord): unknown {
  return {
    Arn: g.Arn,
    CreationDate: g.CreationDate,
    LastModificationDate: g.LastModificationDate,
    Name: g.Name,
    State: g.State,
  };
}
