import type { FaultInjector } from "./faults.js";

/**
 * Per-entry faults of SQS SendMessageBatch (JSON protocol). SQS answers a batch per entry: a call can be a 200
 * whose `Failed` lists some entries (SenderFault false, `InternalError` / `ServiceUnavailable`) while the others
 * are on the queue. AWS documents no rule for a FIFO queue on whether a refused entry stops the later entries of
 * its MessageGroupId in the same call, so the injector can do both (`FaultPolicy.batchEntryErrors.shape`).
 */
export interface EntryRefusal {
  readonly Id: string;
  readonly SenderFault: false;
  readonly Code: string;
  readonly Message: string;
}

export interface BatchSplit {
  /**
   * The request body to forward (the refused entries removed), or undefined when every entry is refused: then
   * `probe` goes instead (`QUEUE_PROBE_TARGET`), so the call is still answered as a whole first, as SQS does.
   */
  readonly forward: string | undefined;
  /** A GetQueueAttributes body for the batch's QueueUrl: it lands nothing, and fails as the batch would. */
  readonly probe: string;
  readonly refused: readonly EntryRefusal[];
  /** Ids of the forwarded entries that follow a refused entry of their MessageGroupId (overtakes if they land). */
  readonly overtaking: ReadonlySet<string>;
}

interface BatchEntry {
  readonly Id?: string;
  readonly MessageGroupId?: string;
}

const MESSAGES: Readonly<Record<string, string>> = {
  InternalError: "We encountered an internal error. Please try again.",
  ServiceUnavailable: "Service is unavailable. Try again later.",
};

/**
 * Draws the refused entries of one SendMessageBatch body; undefined when nothing is refused (or the body is not
 * a JSON-protocol batch), so the call goes on untouched.
 */
export function splitSendMessageBatch(body: string, faults: FaultInjector): BatchSplit | undefined {
  let parsed: { Entries?: BatchEntry[] };
  try {
    parsed = JSON.parse(body) as { Entries?: BatchEntry[] };
  } catch {
    return undefined;
  }
  const entries = Array.isArray(parsed.Entries) ? parsed.Entries : [];
  if (entries.length === 0 || refusedWhole(entries)) return undefined;
  const codes = faults.decideEntries(
    "SendMessageBatch",
    entries.map((e) => e.MessageGroupId),
  );
  if (codes.every((code) => code === undefined)) return undefined;
  const refused = entries.flatMap((entry, i) => {
    const code = codes[i];
    if (code === undefined) return [];
    return [
      { Id: String(entry.Id), SenderFault: false as const, Code: code, Message: MESSAGES[code] ?? code },
    ];
  });
  const kept = entries.filter((_, i) => codes[i] === undefined);
  const forward = kept.length > 0 ? JSON.stringify({ ...parsed, Entries: kept }) : undefined;
  const probe = JSON.stringify({
    QueueUrl: (parsed as { QueueUrl?: unknown }).QueueUrl,
    AttributeNames: ["QueueArn"],
  });
  return { forward, probe, refused, overtaking: overtakingIds(entries, codes) };
}

/** SendMessageBatch's most entries, and its entry ids' form (alphanumerics, `-` and `_`, up to 80 characters). */
const MAX_BATCH_ENTRIES = 10;
const ENTRY_ID = /^[A-Za-z0-9_-]{1,80}$/;

/**
 * A batch SQS refuses as a whole (TooManyEntriesInBatchRequest, InvalidBatchEntryId, BatchEntryIdsNotDistinct) is
 * not drawn: it goes on untouched and the emulator's error stands, as on AWS, where no entry is ever looked at.
 * https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessageBatch.html
 */
function refusedWhole(entries: readonly BatchEntry[]): boolean {
  if (entries.length > MAX_BATCH_ENTRIES) return true;
  const ids = entries.map((e) => e.Id);
  return ids.some((id) => typeof id !== "string" || !ENTRY_ID.test(id)) || new Set(ids).size !== ids.length;
}

/** The JSON-protocol target of the probe sent in place of a batch whose every entry is refused. */
export const QUEUE_PROBE_TARGET = "AmazonSQS.GetQueueAttributes";

/**
 * The answer to a batch whose every entry was refused, once its probe answered 200 (a probe's error is the batch's
 * answer as it stands): a 200 with an empty `Successful`, as SQS answers it.
 */
export function allRefusedAnswer(refused: readonly EntryRefusal[]): string {
  return JSON.stringify({ Successful: [], Failed: refused });
}

/** Overtakes are a FIFO notion: an entry without a MessageGroupId overtakes nothing. */
function overtakingIds(entries: readonly BatchEntry[], codes: readonly (string | undefined)[]): Set<string> {
  const refusedGroups = new Set<string>();
  const overtaking = new Set<string>();
  entries.forEach((entry, i) => {
    const group = entry.MessageGroupId;
    if (group === undefined) return;
    if (codes[i] !== undefined) refusedGroups.add(group);
    else if (refusedGroups.has(group)) overtaking.add(String(entry.Id));
  });
  return overtaking;
}

/**
 * The emulator's answer to the forwarded entries, with the refused ones added to `Failed`; the entries it lists in
 * `Successful` past a refused one of their group are counted as the overtakes that really happened.
 */
export function withRefusals(answer: string, split: BatchSplit, faults: FaultInjector): string {
  let parsed: { Successful?: { Id?: string }[]; Failed?: unknown[] };
  try {
    parsed = JSON.parse(answer) as typeof parsed;
  } catch {
    return answer;
  }
  if (parsed === null || typeof parsed !== "object" || !("Successful" in parsed || "Failed" in parsed))
    return answer; // an error answer (the whole call failed): it stands as is
  const landed = (parsed.Successful ?? []).filter((e) => split.overtaking.has(String(e.Id))).length;
  faults.countEntriesPastRefused("SendMessageBatch", landed);
  return JSON.stringify({ ...parsed, Failed: [...(parsed.Failed ?? []), ...split.refused] });
}

/** Whether a request is a JSON-protocol SQS SendMessageBatch (the only shape the SDK sends today). */
export function isSendMessageBatch(headers: Readonly<Record<string, unknown>>): boolean {
  const target = headers["x-amz-target"] ?? headers["X-Amz-Target"];
  return typeof target === "string" && target.endsWith(".SendMessageBatch");
}
