import type { LocalCloud } from "#local/cloud/local-cloud.js";
import type { StartOptions } from "./start-options.js";

/** `npm run receiver`'s own default port (local/bin/receiver.ts): suggested when nothing of ours holds it. */
const RECEIVER_DEFAULT_PORT = 4000;

/**
 * The port `npm start` suggests for the demo's receiver: the receiver's default, unless the API or the AWS
 * endpoint was put on it (`--port 4000`), then the next one neither holds. The banner used to name :4000 whatever
 * ports were chosen, so following it with `--port 4000` sent the demo's callback to the API itself.
 */
export function receiverPort(taken: readonly number[]): number {
  let port = RECEIVER_DEFAULT_PORT;
  while (taken.includes(port)) port += 1;
  return port;
}

/** The port a running server's URL names (the bound one: `--port 0` takes any free port). */
function portOf(url: string): number {
  return Number(new URL(url).port);
}

type BannerCloud = Pick<
  LocalCloud,
  | "apiUrl"
  | "awsEndpoint"
  | "signingSecret"
  | "verificationKeys"
  | "subscriberVerificationKeys"
  | "topicSettings"
>;

/**
 * What `npm start` prints once the cloud is up. Every address in it is the one the cloud bound (never a default),
 * and the demo's receiver command and callback URL name the same port.
 */
export function startBanner(
  options: Pick<StartOptions, "data" | "faults" | "faultSeed">,
  cloud: BannerCloud,
  seconds: number,
): string {
  const receiver = receiverPort([portOf(cloud.apiUrl), portOf(cloud.awsEndpoint)]);
  const receiverCommand =
    receiver === RECEIVER_DEFAULT_PORT ? "npm run receiver" : `npm run receiver -- ${receiver}`;
  const demoBody = JSON.stringify({
    topic: "demo",
    delay_seconds: 5,
    content: { order_id: "order-1", hello: "world" },
    callback: { url: `http://127.0.0.1:${receiver}/hook` },
  });
  return [
    `Punctual local cloud ready in ${seconds.toFixed(1)} s`,
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
    `Schedule a demo task (run a receiver on 127.0.0.1:${receiver} first, e.g. \`${receiverCommand}\`):`,
    `  curl -sS -X POST ${cloud.apiUrl}/v1/tasks -H 'content-type: application/json' -d '${demoBody}'`,
    "",
    "Ctrl-C (or closing this terminal) stops: no new requests, in-flight deliveries finish, pollers stop, then the emulators.",
    "A second Ctrl-C forces the exit: deliveries cut short are sent again on the next start with the same --data.",
    "",
  ].join("\n");
}
