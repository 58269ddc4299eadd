/**
 * Runs the Scheduler emulator as its own process, so its firing does not compete for the event loop with the
 * load it serves (the SDK client saturates first on these machines). Usage:
 *
 *   tsx local/scheduler/main.ts --sqs-endpoint http://127.0.0.1:4566 [--port 0] [--state .local/scheduler.json]
 *                               [--firing-window 60] [--region us-east-1] [--account 000000000000]
 *
 * Prints one JSON line, {"url": "...", "port": N}, once it listens; stops cleanly (state flushed) on SIGINT/SIGTERM.
 */
import { parseArgs } from "node:util";
import { SQSClient } from "@aws-sdk/client-sqs";
import { createSqsTargetSender, startSchedulerEmulator } from "./emulator.js";

const { values } = parseArgs({
  options: {
    "sqs-endpoint": { type: "string" },
    port: { type: "string", default: "0" },
    host: { type: "string", default: "127.0.0.1" },
    state: { type: "string" },
    "firing-window": { type: "string", default: "0" },
    region: { type: "string", default: "us-east-1" },
    account: { type: "string", default: "000000000000" },
  },
});

const sqsEndpoint = values["sqs-endpoint"];
if (!sqsEndpoint) {
  process.stderr.write("scheduler emulator: --sqs-endpoint is required\n");
  process.exit(2);
}

const sqs = new SQSClient({
  endpoint: sqsEndpoint,
  region: values.region,
  credentials: { accessKeyId: "local", secretAccessKey: "local" },
});

const emulator = await startSchedulerEmulator({
  sqs: createSqsTargetSender(sqs),
  port: Number(values.port),
  host: values.host,
  region: values.region,
  accountId: values.account,
  firingWindowSeconds: Number(values["firing-window"]),
  ...(values.state ? { persistencePath: values.state } : {}),
  logger: (line) => process.stderr.write(`${line}\n`),
});
process.stdout.write(`${JSON.stringify({ url: emulator.url, port: emulator.port })}\n`);

let stopping = false;
const shutdown = () => {
  if (stopping) return;
  stopping = true;
  void emulator.stop().then(
    () => process.exit(0),
    (error: unknown) => {
      process.stderr.write(`scheduler emulator: ${String(error)}\n`);
      process.exit(1);
    },
  );
};
process.on("SIGINT", shutdown);
process.on("SIGTERM", shutdown);
