import { API_ROUTES, type ApiRouteName, DEFAULT_ROUTE } from "#shared/api/routes.js";

/** The pipeline's functions, and the API's from its route table (each row's `$default` included). */
const PIPELINE_FUNCTIONS = ["relay", "deliver", "sweeper"] as const;
export const API_FUNCTIONS = [...API_ROUTES, DEFAULT_ROUTE];
export const FUNCTIONS = [...API_FUNCTIONS.map((route) => route.name), ...PIPELINE_FUNCTIONS];
export type FunctionName = ApiRouteName | (typeof PIPELINE_FUNCTIONS)[number];

/**
 * The environment the bench runs its functions as: their dummy variables name it and its topics, and each bundle is
 * built for it (a bundle carries only the environment it is built for: shared/config/environments/index.ts).
 */
export const BENCH_ENVIRONMENT = "dev";
