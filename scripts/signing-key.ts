/**
 * Prints a topic's verification key(s) — what that topic's receivers give to their Standard Webhooks library.
 *
 *   npm run signing-key -- --topic orders --secret-arn <SigningSecretArn output>   # a deployed stack (AWS creds)
 *   PUNCTUAL_SIGNING_SECRET=whsec_… npm run signing-key -- --topic orders          # any secret value at hand
 *
 * During a rotation (the secret holds {"current","previous"}) it prints both keys: receivers accept either.
 */
import { Command } from "commander";
import { parseSigningSecrets, secretsManagerFetcher, topicSigningKey } from "#shared/security/signing.js";

const options = new Command()
  .name("signing-key")
  .description("Print a topic's callback verification key(s), derived from the environment's signing secret.")
  .requiredOption("--topic <name>", "the topic whose receivers need the key")
  .option("--secret-arn <arn>", "read the secret from Secrets Manager (the stack's SigningSecretArn output)")
  .parse()
  .opts<{ topic: string; secretArn?: string }>();

const raw = options.secretArn
  ? await secretsManagerFetcher()(options.secretArn)
  : process.env.PUNCTUAL_SIGNING_SECRET;
if (!raw) {
  process.stderr.write("give --secret-arn, or set PUNCTUAL_SIGNING_SECRET\n");
  process.exit(2);
}
const [current, previous] = parseSigningSecrets(raw);
process.stdout.write(`${topicSigningKey(current as string, options.topic)}\n`);
if (previous)
  process.stdout.write(`${topicSigningKey(previous, options.topic)}   (previous, during rotation)\n`);
