/**
 * `npm start`: the whole Punctual pipeline on this machine, no Docker, no AWS account.
 */
import { DEFAULT_LOCAL_SIGNING_SECRET, startLocalCloud } from "#local/cloud/local-cloud.js";
import { startFailureMessage } from "#local/cloud/start-failure.js";
import { quietNodeVersionWarning } from "#shared/runtime/node-version.js";
import { ensureConsoleBuilt } from "../../console/build.js";
import { localCloudOptions, parseStartOptions } from "./start-options.js";
import { stopOnSignals } from "./stop-on-signals.js";

quietNodeVersionWarning();

const options = parseStartOptions(process.argv);
const started = Date.now();
// The console's page, built now (esbuild, ~100 ms) so the first visit is served at once.
await ensureConsoleBuilt();
const cloud = await startLocalCloud(
  localCloudOptions(options, {
    signingSecret: process.env.PUNCTUAL_SIGNING_SECRET ?? DEFAULT_LOCAL_SIGNING_SECRET,
    writeErr: (text) => process.stderr.write(text),
    // What the emulators acknowledged is in --data already; a cloud without them would only answer 503s.
    onEmulatorsFailed: (error) => {
      process.stderr.write(
        `punctual-local: the AWS emulators stopped (${error.message}); ` +
          "what they had accepted is kept with --data: fix the cause (a full disk?) and start again\n",
      );
      process.exit(1);
    },
  }),
).catch((error: unknown) => {
  // A port taken or a data directory in use: one line saying what to do, not a stack trace.
  const message = startFailureMessage(error, { port: options.port, awsPort: options.awsPort });
  if (message === undefined) throw error;
  process.stderr.write(`punctual-local: ${message}\n`);
  process.exit(1);
});

const demoBody = JSON.stringify({
  topic: "demo",
  delay_seconds: 5,
  content: { order_id: "order-1", hello: "world" },
  callback: { url: "http://127.0.0.1:4000/hook" },
});
process.stdout.write(
  [
    `Punctual local cloud ready in ${((Date.now() - started) / 1000).toFixed(1)} s`,
    `  API            ${cloud.apiUrl}`,
    `  console        ${cloud.apiUrl}/console`,
    `  AWS endpoint   ${cloud.awsEndpoint}   (DynamoDB, SQS, EventBridge Scheduler; any credentials, us-east-1)`,
    `  signing secret ${cloud.signingSecret}   (the material; receivers never hold it)`,
    "  verification keys, one per topic (give each receiver its topic's key):",
    ...Object.entries(cloud.verificationKeys).map(([topic, key]) => `    ${topic.padEnd(14)} ${key}`),
    ...Object.entries(cloud.subscriberVerificationKeys).flatMap(([topic, keys]) => [
      `  fan-out topic ${topic}: one key per subscriber (each receiver verifies only its own):`,
      ...Object.entries(keys).map(([subscriber, key]) => `    ${subscriber.padEnd(14)} ${key}`),
    ]),
    `  settings       ${cloud.topicSettings?.file ?? "(none)"}   (topic settings without a deploy: edit while running)`,
    options.data
      ? `  data           ${options.data}`
      : "  data           in memory (use --data <dir> to keep it)",
    ...(options.faults
      ? [
          `  faults         ${(options.faults * 100).toFixed(1)} % of the functions' and event sources' AWS calls fail (seed ${options.faultSeed})`,
        ]
      : []),
    "",
    "Schedule a demo task (run a receiver on 127.0.0.1:4000 first, e.g. `npm run receiver`):",
    `  curl -sS -X POST ${cloud.apiUrl}/v1/tasks -H 'content-type: application/json' -d '${demoBody}'`,
    "",
    "Ctrl-C (or closing this terminal) stops: no new requests, in-flight deliveries finish, pollers stop, then the emulators.",
    "A second Ctrl-C forces the exit: deliveries cut short are sent again on the next start with the same --data.",
    "",
  ].join("\n"),
);

// After SIGHUP the terminal is gone and writing to it fails (EIO): that must not cut the orderly stop short.
for (const stream of [process.stdout, process.stderr]) stream.on("error", () => undefined);
stopOnSignals({
  stop: () => cloud.stop(),
  write: (text) => process.stdout.write(text),
  exit: (code) => process.exit(code),
});
