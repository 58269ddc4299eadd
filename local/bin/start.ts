/**
 * `npm start`: the whole Punctual pipeline on this machine, no Docker, no AWS account.
 */
import { DEFAULT_LOCAL_SIGNING_SECRET, startLocalCloud } from "#local/cloud/local-cloud.js";
import { startFailureMessage } from "#local/cloud/start-failure.js";
import { quietNodeVersionWarning } from "#shared/runtime/node-version.js";
import { ensureConsoleBuilt } from "../../console/build.js";
import { startBanner } from "./start-banner.js";
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

process.stdout.write(startBanner(options, cloud, (Date.now() - started) / 1000));

// After SIGHUP the terminal is gone and writing to it fails (EIO): that must not cut the orderly stop short.
for (const stream of [process.stdout, process.stderr]) stream.on("error", () => undefined);
stopOnSignals({
  stop: () => cloud.stop(),
  write: (text) => process.stdout.write(text),
  exit: (code) => process.exit(code),
});
