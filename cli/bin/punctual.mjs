#!/usr/bin/env node
// `npx punctual`: runs the TypeScript CLI through tsx, the same runtime as `npm start`. tsx is a runtime
// dependency for this, rather than a build at `prepare`: no compiled copy to go stale, and the CLI reads the
// project's own modules (config, signing) exactly as the tests and the local cloud do.
import { register } from "tsx/esm/api";

register();
// The AWS SDK's Node 20 notice would be a second document on stderr under --json (shared/runtime/node-version.ts).
const { quietNodeVersionWarning } = await import("../../shared/runtime/node-version.ts");
quietNodeVersionWarning();
// A reader that stops reading (`punctual tasks list | head`) closes the pipe: the next write fails with EPIPE,
// which Node throws as an uncaught error (a stack trace, exit 1 = usage). Stop quietly instead, with the status a
// Unix tool killed by SIGPIPE has (128 + 13), so `set -o pipefail` scripts still see the output was cut short.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (error) => {
    if (error.code !== "EPIPE") throw error;
    process.exit(141);
  });
}
const { main } = await import("../main.ts");
process.exitCode = await main(process.argv.slice(2));
