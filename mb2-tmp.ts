import { DynamoDBClient, CreateTableCommand } from "@aws-sdk/client-dynamodb";
import { SQSClient, CreateQueueCommand } from "@aws-sdk/client-sqs";
import { startEmulators, LOCAL_CREDENTIALS } from "#local/aws/emulators.js";
import type { InProcessRequest } from "#local/aws/in-process.js";
const em = await startEmulators({});
const cfg = { region: "us-east-1", credentials: LOCAL_CREDENTIALS };
const ddb = new DynamoDBClient({ ...cfg, endpoint: em.endpoints.dynamodb });
await ddb.send(new CreateTableCommand({ TableName: "ttt", KeySchema: [{ AttributeName: "pk", KeyType: "HASH" }], AttributeDefinitions: [{ AttributeName: "pk", AttributeType: "S" }], BillingMode: "PAY_PER_REQUEST" }));
const port = new URL(em.endpoints.sqs).port;
const sqs = new SQSClient({ ...cfg, endpoint: `http://sqs.us-east-1.localhost:${port}` });
const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: "qqq" }));
const auth = "AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/x/aws4_request, SignedHeaders=host;x-amz-date, Signature=unsigned";
let id = 0;
const ddbReq = (i: number): InProcessRequest => ({ id: id++, service: "dynamodb", faults: false, method: "POST", url: "/", headers: { host: "127.0.0.1", "content-type": "application/x-amz-json-1.0", "x-amz-target": "DynamoDB_20120810.PutItem", authorization: auth, "x-amz-date": "20260101T000000Z" }, body: JSON.stringify({ TableName: "ttt", Item: { pk: { S: `k${i}${Math.random()}` }, status: { S: "scheduled" }, body: { S: "x".repeat(300) } }, ConditionExpression: "attribute_not_exists(pk)" }) });
const sqsReq = (i: number): InProcessRequest => ({ id: id++, service: "sqs", faults: false, method: "POST", url: "/", headers: { host: `sqs.us-east-1.localhost:${port}`, "content-type": "application/x-amz-json-1.0", "x-amz-target": "AmazonSQS.SendMessage", authorization: auth, "x-amz-date": "20260101T000000Z" }, body: JSON.stringify({ QueueUrl, MessageBody: "x".repeat(300) + i, DelaySeconds: 900 }) });
async function run(name: string, mk: (i: number) => InProcessRequest, n: number) {
  const u0 = process.cpuUsage();
  for (let i = 0; i < n; i += 16) { const rs = await Promise.all(Array.from({ length: 16 }, (_, j) => em.dispatch(mk(i + j)))); if ("statusCode" in rs[0]! && rs[0].statusCode !== 200) console.log(Buffer.from(rs[0].body).toString()); }
  const u = process.cpuUsage(u0);
  console.log(name, "server cpu µs/call", ((u.user + u.system) / n).toFixed(0));
}
for (const r of [1, 2, 3]) { await run("dynalite PutItem", ddbReq, 3000); await run("fauxqs SendMessage", sqsReq, 3000); }
await em.stop(); process.exit(0);
