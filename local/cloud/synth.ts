import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { App } from "aws-cdk-lib";
import { PunctualStack } from "#cdk/lib/punctual-stack.js";
import { loadEnvironmentConfig } from "#shared/config/index.js";
import type { CfnTemplate } from "./template.js";

/**
 * Synthesizes the `local` environment's stack in-process, exactly as `cdk synth -c env=local` would, minus
 * asset bundling (the local cloud runs the TypeScript sources), and returns its template.
 */
export async function synthLocalTemplate(): Promise<CfnTemplate> {
  const outdir = mkdtempSync(path.join(tmpdir(), "punctual-synth-"));
  try {
    const app = new App({
      outdir,
      // An empty bundling-stacks list is CDK's own switch for "synthesize without building assets".
      context: { "aws:cdk:bundling-stacks": [] },
      // CDK's built-in template validation (a WebAssembly engine) took 2–4 s of every start and, with its ~190 MB
      // of memory outside the heap, some forty back-to-back full GCs of the main thread. The local template is
      // the deployed stack's own; test/cdk/cloudformation-validate.test.ts validates every environment's, and
      // `cdk synth` / `cdk deploy` still run it.
      builtinCloudFormationValidation: false,
    });
    const config = loadEnvironmentConfig("local");
    const stack = new PunctualStack(app, "Punctual-local", { config, stackName: "Punctual-local" });
    const assembly = app.synth();
    return assembly.getStackArtifact(stack.artifactId).template as CfnTemplate;
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}
