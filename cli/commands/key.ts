import type { Command } from "commander";
import { TOPIC_NAME_PATTERN } from "#shared/config/schema.js";
import { SUBSCRIBER_ID_PATTERN } from "#shared/domain/fan-out.js";
import { SigningSecretError, verificationKeys } from "#shared/security/signing.js";
import { type GlobalOptions, STACK_OUTPUT, stackName, stackOutputs } from "../connection.js";
import { UsageError } from "../exit-codes.js";
import { type CliIo, printResult } from "../output.js";

const SECRET_ENV = "PUNCTUAL_SIGNING_SECRET";

export function keyCommand(parent: Command, io: CliIo): void {
  parent
    .command("key")
    .description(
      "Print a topic's callback verification key: what its receivers give their Standard Webhooks library. " +
        "During a rotation it prints the previous key too; receivers accept either.",
    )
    .requiredOption("--topic <name>", "the topic whose receivers need the key")
    .option(
      "--subscriber <id>",
      "a fan-out topic: the key of this subscriber (its receiver verifies only its own)",
    )
    .option(
      "--secret-arn <arn>",
      "read the secret from Secrets Manager (the stack's SigningSecretArn output)",
    )
    .addHelpText(
      "after",
      `\nThe secret comes from --secret-arn, else --env's stack output SigningSecretArn, else ${SECRET_ENV}.\n` +
        "\nExample:\n  $ npx punctual --env prod key --topic orders\n  $ npx punctual --env prod key --topic orders --subscriber billing\n  $ PUNCTUAL_SIGNING_SECRET=whsec_… npx punctual key --topic demo",
    )
    .action(async (options: { topic: string; subscriber?: string; secretArn?: string }, command: Command) => {
      const global = command.optsWithGlobals<GlobalOptions>();
      refuseUnknownNames(options.topic, options.subscriber);
      const secret = await signingSecret(options.secretArn, global, io);
      const keys = keysOf(secret, options.topic, options.subscriber);
      if (global.json) {
        printResult(io, true, {
          topic: options.topic,
          ...(options.subscriber !== undefined ? { subscriber: options.subscriber } : {}),
          key: keys[0],
          ...(keys[1] ? { previous_key: keys[1] } : {}),
        });
        return;
      }
      io.out(`${keys[0]}\n`);
      if (keys[1]) io.out(`${keys[1]}   (previous, during rotation)\n`);
    });
}

/**
 * A topic or subscriber no stack can have: deliver signs with the key of the name as configured, so a key derived
 * from a mistyped one (`Billing`, a trailing space) verifies no callback, and its receiver would refuse them all.
 */
function refuseUnknownNames(topic: string, subscriber: string | undefined): void {
  if (!TOPIC_NAME_PATTERN.test(topic)) {
    throw new UsageError(
      `--topic ${JSON.stringify(topic)}: a topic name is lowercase letters, digits and '-', at most 24`,
    );
  }
  if (subscriber !== undefined && !SUBSCRIBER_ID_PATTERN.test(subscriber)) {
    throw new UsageError(
      `--subscriber ${JSON.stringify(subscriber)}: a subscriber id is a lowercase letter, then letters, digits or '-', at most 32`,
    );
  }
}

/** A secret deliver would refuse is the caller's to fix (exit 1), not a failure a retry could cure (exit 3). */
function keysOf(secret: string, topic: string, subscriber: string | undefined): string[] {
  try {
    return verificationKeys(secret, topic, subscriber);
  } catch (error) {
    if (error instanceof SigningSecretError) throw new UsageError(error.message);
    throw error;
  }
}

async function signingSecret(
  secretArn: string | undefined,
  global: GlobalOptions,
  io: CliIo,
): Promise<string> {
  let arn = secretArn;
  if (!arn && global.env) {
    arn = (await stackOutputs(global.env, global.region, io.env))[STACK_OUTPUT.signingSecretArn];
    if (!arn)
      throw new Error(`stack ${stackName(global.env)} has no ${STACK_OUTPUT.signingSecretArn} output`);
  }
  if (arn) return readSecret(arn, global.region);
  const inline = io.env[SECRET_ENV];
  if (!inline) throw new UsageError(`give --secret-arn or --env, or set ${SECRET_ENV}`);
  return inline;
}

/** The secret's region is in its ARN (arn:aws:secretsmanager:<region>:…), so no region setting is needed. */
async function readSecret(arn: string, region: string | undefined): Promise<string> {
  const { SecretsManagerClient } = await import("@aws-sdk/client-secrets-manager");
  const { secretsManagerFetcher } = await import("#shared/security/signing.js");
  const client = new SecretsManagerClient({ region: arn.split(":")[3] || region });
  try {
    return await secretsManagerFetcher(client)(arn);
  } finally {
    client.destroy();
  }
}
