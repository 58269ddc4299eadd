import type { SQSClient } from "@aws-sdk/client-sqs";

/** A command as the stand-in saw it: its class name and input. */
export type SentCommand = { name: string; input: Record<string, unknown> };

/**
 * A stand-in for the SQS client at an adapter's seam: records every command and answers through `reply` (its
 * return value is the call's output; a throw is the call failing as a whole, after the SDK's own retries).
 */
export function fakeSqs(reply: (command: SentCommand, index: number) => unknown) {
  const sent: SentCommand[] = [];
  const client = {
    send: async (command: { constructor: { name: string }; input: Record<string, unknown> }) => {
      const entry = { name: command.constructor.name, input: command.input };
      sent.push(entry);
      return reply(entry, sent.length - 1);
    },
  } as unknown as SQSClient;
  return { client, sent };
}
