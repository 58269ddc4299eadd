/**
 * Imported first by main.tsx, before any schema is built: zod compiles object parsers with `new Function`
 * unless told not to, and the page's Content-Security-Policy (no 'unsafe-eval') refuses that, reporting a
 * violation on zod's probe. Jitless parsing is plenty for the page's few small answers.
 */
import * as z from "zod";

z.config({ jitless: true });
