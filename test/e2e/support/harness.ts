import { DynamoDBClient, ScanCommand } from "@aws-sdk/client-dynamodb";
import { LOCAL_CREDENTIALS, LOCAL_REGION } from "#local/aws/emulators.js";
import { type LocalCloud, type LocalCloudOptions, startLocalCloud } from "#local/cloud/local-cloud.js";
import { startCallbackReceiver } from "./callback-receiver.js";

export type Receiver = Awaited<ReturnType<typeof startCallbackReceiver>>;

export interface Harness {
  readonly cloud: LocalCloud;
  readonly receiver: Receiver;
  readonly dynamodb: DynamoDBClient;
  api(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<ApiResponse>;
  /** Every item in the task table (the local table is small). */
  tableItems(): Promise<Record<string, unknown>[]>;
  /** Polls GET /v1/tasks/{id} until its status is one of `statuses`. */
  waitForStatus(taskId: string, statuses: string[], timeoutMs?: number): Promise<Record<string, unknown>>;
  stop(): Promise<void>;
}

export interface ApiResponse {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  readonly json: Record<string, unknown> & { error?: { code: string; message: string; issues?: unknown[] } };
}

/** Starts the local cloud (random ports) and a real callback receiver on loopback. */
export async function startHarness(options: LocalCloudOptions = {}): Promise<Harness> {
  const receiver = await startCallbackReceiver();
  const cloud = await startLocalCloud({ apiPort: 0, awsPort: 0, ...options });
  const dynamodb = new DynamoDBClient({
    region: LOCAL_REGION,
    credentials: LOCAL_CREDENTIALS,
    endpoint: cloud.endpoints.dynamodb,
  });
  const tableName = process.env.TABLE_NAME as string;

  const api: Harness["api"] = async (method, path, body, headers = {}) => {
    const response = await fetch(`${cloud.apiUrl}${path}`, {
      method,
      headers: body === undefined ? headers : { "content-type": "application/json", ...headers },
      ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
    });
    const text = await response.text();
    let json: ApiResponse["json"] = {};
    try {
      json = JSON.parse(text);
    } catch {
      // left empty: the assertion on `text` will say what came back
    }
    return { status: response.status, headers: response.headers, text, json };
  };

  return {
    cloud,
    receiver,
    dynamodb,
    api,
    tableItems: async () => {
      const items: Record<string, unknown>[] = [];
      let start: Record<string, never> | undefined;
      do {
        const page = await dynamodb.send(
          new ScanCommand({ TableName: tableName, ConsistentRead: true, ExclusiveStartKey: start }),
        );
        items.push(...((page.Items ?? []) as Record<string, unknown>[]));
        start = page.LastEvaluatedKey as Record<string, never> | undefined;
      } while (start);
      return items;
    },
    waitForStatus: async (taskId, statuses, timeoutMs = 20_000) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const { json } = await api("GET", `/v1/tasks/${encodeURIComponent(taskId)}`);
        if (statuses.includes(String(json.status))) return json;
        if (Date.now() > deadline) {
          throw new Error(
            `task ${taskId} never reached ${statuses.join("|")}; last: ${JSON.stringify(json)}`,
          );
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    stop: async () => {
      await cloud.stop();
      await receiver.stop();
      dynamodb.destroy();
    },
  };
}
