import { refuseUncheckedFauxqs } from "./fauxqs-fifo.js";

/**
 * fauxqs's message-body character check, made the one SQS documents: "#x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to
 * #xFFFD | #x10000 to #x10FFFF", anything else refused with InvalidMessageContents
 * (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessage.html, MessageBody).
 * fauxqs 1.9 tests a body with `/[^\x09\x0A\x0D\x20-\uD7FF\uE000-\uFFFD]/`, which reads UTF-16 code units: each half
 * of a character above U+FFFF (an emoji, a CJK extension ideograph, a mathematical letter) is a surrogate outside
 * its ranges, so SendMessage refused such a body and SendMessageBatch failed its entry, where SQS takes it (our own
 * bodies are `{"v":1,"taskId":…}`, ids only, so this reached only other senders to the local queues). The same
 * test, read by code point (the `u` flag), takes those and still refuses what SQS refuses: U+0000–U+001F but tab,
 * newline and carriage return, a lone surrogate (no character at all: it has no UTF-8 form), U+FFFE and U+FFFF.
 *
 * fauxqs's send actions read the regular expression from its sqsTypes module, one object, so its `test` is
 * replaced on that object (node_modules is not edited; refuseUncheckedFauxqs pins the release it was read against).
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: the tab, newline and carriage return SQS allows are named.
export const SQS_BODY_CHARACTER_REFUSED = /[^\x09\x0A\x0D\x20-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;

let patched = false;

/** Makes fauxqs's body check SQS's (process-wide, once, before any message is sent). */
export async function checkBodiesAsSqsDoes(): Promise<void> {
  if (patched) return;
  refuseUncheckedFauxqs();
  const typesModule = new URL("./sqs/sqsTypes.js", import.meta.resolve("fauxqs"));
  const { INVALID_MESSAGE_BODY_CHAR: fauxqsCheck } = (await import(typesModule.href)) as {
    INVALID_MESSAGE_BODY_CHAR?: unknown;
  };
  if (!(fauxqsCheck instanceof RegExp) || fauxqsCheck.global || fauxqsCheck.sticky) {
    throw new Error(
      "fauxqs changed: INVALID_MESSAGE_BODY_CHAR is gone or stateful; local/aws/fauxqs-bodies.ts needs a look",
    );
  }
  Object.defineProperty(fauxqsCheck, "test", {
    value: (body: unknown) => SQS_BODY_CHARACTER_REFUSED.test(String(body)),
    configurable: true,
  });
  patched = true;
}
