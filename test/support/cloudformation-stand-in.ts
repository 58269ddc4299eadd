import { randomUUID } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A stand-in for the two AWS look-ups `punctual --env` makes, spoken over HTTP in their real wire protocols so the
 * CLI's own SDK clients (no mocks) reach it through the SDK's service-specific endpoint variables:
 * - CloudFormation DescribeStacks (awsQuery: a form-encoded POST, `Action=DescribeStacks&Version=2010-05-15&
 *   StackName=…`; an XML `DescribeStacksResponse`; errors as `ErrorResponse/Error/{Type,Code,Message}`, a missing
 *   stack a 400 `ValidationError` "Stack with id X does not exist");
 * - Secrets Manager GetSecretValue (awsJson1_1: `X-Amz-Target: secretsmanager.GetSecretValue`, a JSON body; errors
 *   as `{"__type": …, "Message": …}`).
 * Every request is recorded with the credential scope it was signed for; one not SigV4-signed for the service and
 * region the stand-in serves is refused (403), as AWS refuses it.
 */
export interface StandInStack {
  readonly name: string;
  readonly outputs: Readonly<Record<string, string>>;
  readonly status?: string;
}

export interface StandInOptions {
  /** The region each service answers for: a request signed for another is refused. */
  readonly regions: { readonly cloudformation: string; readonly secretsmanager?: string };
  /** Every live stack; DescribeStacks answers those named as asked (two of one name: a broken answer, on purpose). */
  readonly stacks?: readonly StandInStack[];
  /** Secret ARN → its SecretString. */
  readonly secrets?: Readonly<Record<string, string>>;
}

export interface RecordedAwsRequest {
  readonly service: string;
  /** The region and service of the Authorization header's credential scope, as sent. */
  readonly scope: { readonly region: string; readonly service: string } | undefined;
  readonly action: string;
  readonly params: Readonly<Record<string, unknown>>;
}

/** A fault answered instead of the real answer, for the next `times` requests. */
export interface StandInFault {
  readonly status: number;
  readonly code: string;
  readonly message: string;
  readonly times: number;
}

interface Answer {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
}

const CFN_NAMESPACE = "http://cloudformation.amazonaws.com/doc/2010-05-15/";
const CREDENTIAL_SCOPE = /^AWS4-HMAC-SHA256 Credential=[^/]+\/\d{8}\/([^/]+)\/([^/]+)\/aws4_request,/;

export class CloudFormationStandIn {
  readonly requests: RecordedAwsRequest[] = [];
  private readonly faults: StandInFault[] = [];
  private server: http.Server | undefined;
  /** Set to answer every DescribeStacks with this body (200, text/xml) instead of the stacks': a hostile answer. */
  rawDescribeStacksBody: string | undefined;

  constructor(private readonly options: StandInOptions) {}

  async start(): Promise<string> {
    const server = http.createServer((request, response) => {
      void this.handle(request).then((answer) => {
        response.writeHead(answer.status, {
          "content-type": answer.contentType,
          "x-amzn-requestid": randomUUID(),
        });
        response.end(answer.body);
      });
    });
    this.server = server;
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return this.url;
  }

  get url(): string {
    const address = this.server?.address() as AddressInfo | null;
    if (!address) throw new Error("the stand-in is not started");
    return `http://127.0.0.1:${address.port}`;
  }

  /**
   * What the CLI's process needs to reach the stand-in and nothing else: the SDK's service-specific endpoint
   * variables, dummy static credentials, and no shared config or credentials file (so no profile of the host's).
   */
  env(): Record<string, string> {
    return {
      AWS_ENDPOINT_URL_CLOUDFORMATION: this.url,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: this.url,
      AWS_ACCESS_KEY_ID: "AKIASTANDIN000000000",
      AWS_SECRET_ACCESS_KEY: "stand-in-secret-access-key",
      AWS_CONFIG_FILE: "/nonexistent/punctual-stand-in/config",
      AWS_SHARED_CREDENTIALS_FILE: "/nonexistent/punctual-stand-in/credentials",
    };
  }

  failNext(fault: StandInFault): void {
    this.faults.push({ ...fault });
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async handle(request: http.IncomingMessage): Promise<Answer> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString("utf8");
    const target = request.headers["x-amz-target"];
    const scope = credentialScope(request.headers.authorization);
    if (typeof target === "string") return this.secretsManager(target, body, scope);
    return this.cloudFormation(body, scope);
  }

  private cloudFormation(body: string, scope: RecordedAwsRequest["scope"]): Answer {
    const form = new URLSearchParams(body);
    const params = Object.fromEntries(form);
    this.requests.push({ service: "cloudformation", scope, action: form.get("Action") ?? "", params });
    const signed = scopeProblem(scope, "cloudformation", this.options.regions.cloudformation);
    if (signed) return queryError(403, "Sender", signed.code, signed.message);
    const fault = this.takeFault();
    if (fault)
      return queryError(fault.status, fault.status >= 500 ? "Receiver" : "Sender", fault.code, fault.message);
    if (form.get("Action") !== "DescribeStacks" || form.get("Version") !== "2010-05-15") {
      return queryError(400, "Sender", "InvalidAction", `Could not find operation ${form.get("Action")}`);
    }
    if (this.rawDescribeStacksBody !== undefined) {
      return { status: 200, contentType: "text/xml", body: this.rawDescribeStacksBody };
    }
    const name = form.get("StackName") ?? "";
    const stacks = (this.options.stacks ?? []).filter((stack) => stack.name === name);
    if (stacks.length === 0) {
      return queryError(400, "Sender", "ValidationError", `Stack with id ${name} does not exist`);
    }
    return {
      status: 200,
      contentType: "text/xml",
      body: describeStacksXml(stacks, this.options.regions.cloudformation),
    };
  }

  private secretsManager(target: string, body: string, scope: RecordedAwsRequest["scope"]): Answer {
    const params = JSON.parse(body || "{}") as Record<string, unknown>;
    const action = target.replace(/^secretsmanager\./, "");
    this.requests.push({ service: "secretsmanager", scope, action, params });
    const region = this.options.regions.secretsmanager ?? this.options.regions.cloudformation;
    const signed = scopeProblem(scope, "secretsmanager", region);
    if (signed) return jsonError(403, signed.code, signed.message);
    const fault = this.takeFault();
    if (fault) return jsonError(fault.status, fault.code, fault.message);
    if (target !== "secretsmanager.GetSecretValue") {
      return jsonError(400, "UnknownOperationException", `unknown operation ${target}`);
    }
    const arn = String(params.SecretId);
    const secret = this.options.secrets?.[arn];
    if (secret === undefined) {
      return jsonError(400, "ResourceNotFoundException", "Secrets Manager can't find the specified secret.");
    }
    const answer = {
      ARN: arn,
      Name: arn.split(":")[6]?.replace(/-[A-Za-z0-9]{6}$/, ""),
      SecretString: secret,
      VersionId: randomUUID(),
      VersionStages: ["AWSCURRENT"],
      CreatedDate: 1_764_806_400,
    };
    return { status: 200, contentType: "application/x-amz-json-1.1", body: JSON.stringify(answer) };
  }

  private takeFault(): StandInFault | undefined {
    const fault = this.faults[0];
    if (!fault) return undefined;
    if (fault.times <= 1) this.faults.shift();
    else this.faults[0] = { ...fault, times: fault.times - 1 };
    return fault;
  }
}

function credentialScope(authorization: string | undefined): RecordedAwsRequest["scope"] {
  const match = CREDENTIAL_SCOPE.exec(authorization ?? "");
  return match ? { region: match[1] as string, service: match[2] as string } : undefined;
}

/** The refusal AWS gives a request not signed, or signed for another service or region. */
function scopeProblem(scope: RecordedAwsRequest["scope"], service: string, region: string) {
  if (!scope) {
    return { code: "MissingAuthenticationToken", message: "Request is missing Authentication Token" };
  }
  if (scope.service !== service || scope.region !== region) {
    return {
      code: "SignatureDoesNotMatch",
      message: `Credential should be scoped to correct service and region: '${service}' in '${region}'`,
    };
  }
  return undefined;
}

function describeStacksXml(stacks: readonly StandInStack[], region: string): string {
  const members = stacks.map(
    (stack, n) =>
      `<member><StackId>arn:aws:cloudformation:${region}:123456789012:stack/${xml(stack.name)}/0000000${n}-a413-11df-adb3-5081b3858e83</StackId>` +
      `<StackName>${xml(stack.name)}</StackName><CreationTime>2026-12-01T09:00:00.000Z</CreationTime>` +
      `<StackStatus>${xml(stack.status ?? "CREATE_COMPLETE")}</StackStatus><DisableRollback>false</DisableRollback>` +
      `<Outputs>${Object.entries(stack.outputs)
        .map(
          ([key, value]) =>
            `<member><OutputKey>${xml(key)}</OutputKey><OutputValue>${xml(value)}</OutputValue></member>`,
        )
        .join("")}</Outputs></member>`,
  );
  return (
    `<DescribeStacksResponse xmlns="${CFN_NAMESPACE}"><DescribeStacksResult><Stacks>${members.join("")}</Stacks>` +
    `</DescribeStacksResult><ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></DescribeStacksResponse>`
  );
}

function queryError(status: number, type: string, code: string, message: string): Answer {
  const body =
    `<ErrorResponse xmlns="${CFN_NAMESPACE}"><Error><Type>${type}</Type><Code>${xml(code)}</Code>` +
    `<Message>${xml(message)}</Message></Error><RequestId>${randomUUID()}</RequestId></ErrorResponse>`;
  return { status, contentType: "text/xml", body };
}

function jsonError(status: number, code: string, message: string): Answer {
  return {
    status,
    contentType: "application/x-amz-json-1.1",
    body: JSON.stringify({ __type: code, Message: message }),
  };
}

function xml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
