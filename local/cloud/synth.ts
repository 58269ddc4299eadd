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
    // An empty bundling-stacks list is CDK's own switch for "synthesize without building assets".
    const app = new App({ outdir, context: { "aws:cdk:bundling-stacks": [] } });
    const config = loadEnvironmentConfig("local");
    const stack = new PunctualStack(app, "Punctual-local", { config, stackName: "Punctual-local" });
    const assembly = app.synth();
    return assembly.getStackArtifact(stack.artifactId).template as CfnTemplate;
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}
