import type { EnvironmentConfigInput } from "../schema.js";
import { dev } from "./dev.js";
import { local } from "./local.js";
import { prod } from "./prod.js";
import { staging } from "./staging.js";

/** Every environment Punctual can be deployed as. Add a file here to add an environment. */
export const ENVIRONMENTS: Readonly<Record<string, EnvironmentConfigInput>> = { local, dev, staging, prod };
