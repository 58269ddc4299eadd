/**
 * CloudFormation metadata key on every Punctual function: its source entry relative to the repository root
 * (`functions/add-task.ts`). The CDK construct writes it (cdk/lib/constructs/punctual-function.ts); the local
 * cloud reads it from the synthesized template to run the same handler from source (local/cloud/template.ts).
 */
export const ENTRY_METADATA_KEY = "punctual:entry";
