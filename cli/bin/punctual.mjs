#!/usr/bin/env node
// `npx punctual`: runs the TypeScript CLI through tsx, the same runtime as `npm start`. tsx is a runtime
// dependency for this, rather than a build at `prepare`: no compiled copy to go stale, and the CLI reads the
// project's own modules (config, signing) exactly as the tests and the local cloud do.
import { register } from "tsx/esm/api";

register();
const { main } = await import("../main.ts");
process.exitCode = await main(process.argv.slice(2));
