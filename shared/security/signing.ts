import { hkdfSync } from "node:crypto";
import { GetSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { Webhook } from "standardwebhooks";
import { abortableCall } from "#shared/adapters/abort-signals.js";
import { createAwsClient } from "#shared/adapters/aws-clients.js";
import { errorText, withinMs } from "#shared/runtime/async.js";
import { ENV, MissingEnvironmentError } from "#shared/runtime/env.js";
import type { ServiceLogger } from "#shared/runtime/observability.js";

/** The three Standard Webhooks headers (https://www.standardwebhooks.com/). */
export interface SignatureHeaders {
  readonly "webhook-id": string;
  readonly "webhook-timestamp": string;
  readonly "webhook-signature": string;
}

export class SigningSecretError extends Error {
  override readonly name = "SigningSecretError";
}

/**
 * Signs callbacks per Standard Webhooks: `webhook-signature` is `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`.
 * With several secrets (rotation: current first, then previous) it carries one space-separated `v1,…` entry per
 * secret, as the spec allows, so receivers holding either secret verify the same request.
 */
export class CallbackSigner {
  readonly #secrets: () => readonly string[];
  #keyed: { readonly secrets: readonly string[]; readonly webhooks: readonly Webhook[] } | undefined;
  readonly #subscribers = new Map<string, CallbackSigner>();

  /**
   * `secrets`, or a function giving the secrets to sign with at the time of signing (the same array while they
   * are unchanged): a container's signer, which must not go on signing with a value it read long ago
   * (signingSecretLoader).
   */
  constructor(secrets: readonly string[] | (() => readonly string[])) {
    if (typeof secrets === "function") this.#secrets = secrets;
    else {
      const fixed = [...secrets];
      this.#secrets = () => fixed;
    }
    this.#webhooks();
  }

  #webhooks(): readonly Webhook[] {
    const secrets = this.#secrets();
    if (this.#keyed?.secrets !== secrets) this.#keyed = { secrets, webhooks: webhooksOf(secrets) };
    return this.#keyed.webhooks;
  }

  get secretCount(): number {
    return this.#webhooks().length;
  }

  /**
   * The signer of one subscriber of a fan-out topic (issue 14, point 3), when this is the topic's signer: each key
   * derived from the topic key with `subscriberSigningKey` (a rotation's previous key too), cached.
   */
  forSubscriber(subscriber: string): CallbackSigner {
    let signer = this.#subscribers.get(subscriber);
    if (!signer) {
      signer = new CallbackSigner(derivedKeys(this.#secrets, (key) => subscriberSigningKey(key, subscriber)));
      this.#subscribers.set(subscriber, signer);
    }
    return signer;
  }

  sign(messageId: string, at: Date, payload: string): SignatureHeaders {
    return {
      "webhook-id": messageId,
      "webhook-timestamp": String(Math.floor(at.getTime() / 1000)),
      "webhook-signature": this.#webhooks()
        .map((w) => w.sign(messageId, at, payload))
        .join(" "),
    };
  }
}

function webhooksOf(secrets: readonly string[]): Webhook[] {
  if (secrets.length === 0) throw new SigningSecretError("at least one signing secret is required");
  return secrets.map((secret, i) => {
    try {
      return new Webhook(secret);
    } catch (error) {
      // Never echo the secret itself.
      throw new SigningSecretError(
        `signing secret #${i + 1} is not a valid whsec_/base64 secret (${(error as Error).message})`,
      );
    }
  });
}

/** `derive` of each of `source`'s secrets, derived again only when `source` gives another array. */
function derivedKeys(
  source: () => readonly string[],
  derive: (secret: string) => string,
): () => readonly string[] {
  let from: readonly string[] | undefined;
  let keys: readonly string[] = [];
  return () => {
    const secrets = source();
    if (secrets !== from) {
      keys = secrets.map(derive);
      from = secrets;
    }
    return keys;
  };
}

/**
 * A stored secret value: either the `whsec_…` secret itself, or JSON `{"current":"whsec_…","previous":"whsec_…"}`
 * during a rotation (previous optional). Returns the secrets to sign with, current first.
 */
export function parseSigningSecrets(raw: string): string[] {
  const value = raw.trim();
  if (value.startsWith("{")) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(value);
    } catch {
      throw new SigningSecretError("signing secret looks like JSON but does not parse");
    }
    refuseNearMisses(parsed);
    const { current, previous } = (parsed ?? {}) as { current?: unknown; previous?: unknown };
    if (typeof current !== "string" || current.trim() === "") {
      throw new SigningSecretError('signing secret JSON needs a "current" string');
    }
    if (previous !== undefined && previous !== null && typeof previous !== "string") {
      throw new SigningSecretError('signing secret JSON: "previous" must be a string');
    }
    const secrets = [current.trim()];
    if (typeof previous === "string" && previous.trim() !== "" && previous.trim() !== current.trim()) {
      secrets.push(previous.trim());
    }
    return secrets;
  }
  if (value === "") throw new SigningSecretError("signing secret is empty");
  return [value];
}

/**
 * A member named almost `current` or `previous` (`Previous`, `previos`, `pervious`, `prev`, `previous_key`) is a
 * typo whose key would be dropped in silence: every callback then without the signature its receivers still verify
 * with. Such a document is refused. Other members are ignored, as a later version's are by every persisted shape
 * (docs/OPERATIONS.md "Upgrading"): a later version must not name one like these two. A name is shown only when too
 * short to be (or to hold much of) a secret: one pasted as a name is not logged.
 */
function refuseNearMisses(parsed: unknown): void {
  if (parsed === null || typeof parsed !== "object") return;
  const typo = Object.keys(parsed).find(isNearMiss);
  if (typo === undefined) return;
  const named = typo.length <= SHOWN_MEMBER_CHARS ? JSON.stringify(typo) : `of ${typo.length} characters`;
  throw new SigningSecretError(
    `signing secret JSON: member ${named} is neither "current" nor "previous" (misspelt?)`,
  );
}

/** A valid secret holds at least 24 bytes: 32 base64 characters, twice this. */
const SHOWN_MEMBER_CHARS = 16;

/** The two members, and how a name meant for one may begin (`curr`, `prev_key`). */
const MEMBERS = [
  { name: "current", prefix: "cur" },
  { name: "previous", prefix: "prev" },
] as const;

function isNearMiss(name: string): boolean {
  if (MEMBERS.some((member) => member.name === name)) return false;
  const letters = name.toLowerCase().replace(/[^a-z]/g, "");
  return MEMBERS.some(
    (member) => letters.startsWith(member.prefix) || editDistance(letters, member.name) <= 2,
  );
}

/** Levenshtein distance (insertions, deletions, substitutions), for the short member names above. */
function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      next[j] = Math.min(
        (row[j] ?? 0) + 1,
        (next[j - 1] ?? 0) + 1,
        (row[j - 1] ?? 0) + Number(a[i - 1] !== b[j - 1]),
      );
    }
    row = next;
  }
  return row[b.length] ?? 0;
}

/** Reads a secret's string value; `signal` aborts the read (the loader gives up on one that does not answer). */
export type SecretFetcher = (secretArn: string, signal?: AbortSignal) => Promise<string>;

/** Reads a secret's string value from Secrets Manager. */
export function secretsManagerFetcher(
  client: SecretsManagerClient = createAwsClient(SecretsManagerClient),
): SecretFetcher {
  return async (secretArn, signal) => {
    const out = await client.send(
      ...abortableCall(client, new GetSecretValueCommand({ SecretId: secretArn }), signal),
    );
    if (typeof out.SecretString !== "string") {
      throw new SigningSecretError(`secret ${secretArn} has no string value`);
    }
    return out.SecretString;
  };
}

/** Domain separation for the per-topic keys: a new scheme gets a new label, never a reuse of this one. */
const TOPIC_KEY_SALT = "punctual/callback-signing/v1";

/**
 * The Standard Webhooks secret (`whsec_<base64>`) a topic's receivers verify with: HKDF-SHA256 (RFC 5869) of the
 * environment's signing secret, with the topic's name as `info`. Every topic gets its own key, so a receiver
 * holding one topic's key cannot accept — and a caller of one topic cannot produce — another topic's callbacks,
 * while operators still keep and rotate a single secret. HKDF is one-way: a topic key reveals neither the
 * secret nor any other topic's key.
 */
export function topicSigningKey(secret: string, topic: string): string {
  const material = environmentSecretBytes(secret);
  const key = hkdfSync("sha256", material, TOPIC_KEY_SALT, `topic:${topic}`, 32);
  return `whsec_${Buffer.from(key).toString("base64")}`;
}

/** Domain separation for subscriber keys, apart from the topic keys' label. */
const SUBSCRIBER_KEY_SALT = "punctual/subscriber-signing/v1";

/**
 * The Standard Webhooks secret one subscriber of a fan-out topic verifies with: HKDF-SHA256 of the topic's key
 * (`topicSigningKey`), the subscriber id as `info`. One-way, like the topic keys: a subscriber holding its key can
 * neither verify nor forge another subscriber's callbacks, nor recover the topic key; deliver derives every
 * subscriber's signer from the topic signer it already holds, so no new secret is kept or fetched.
 */
export function subscriberSigningKey(topicKey: string, subscriber: string): string {
  const key = hkdfSync("sha256", secretBytes(topicKey), SUBSCRIBER_KEY_SALT, `subscriber:${subscriber}`, 32);
  return `whsec_${Buffer.from(key).toString("base64")}`;
}

/** The Standard Webhooks specification's smallest secret: 24 bytes (192 bits). */
export const MIN_SIGNING_SECRET_BYTES = 24;

/**
 * The environment's secret as key material, refused below the specification's minimum: every topic key is one
 * HKDF of it, so a short or typed one (`whsec_changeme` is valid base64) would let anyone holding one signed
 * callback find it by brute force and forge every topic's callbacks. `#n` numbers it in a rotation's document.
 */
function environmentSecretBytes(secret: string, n = 1): Buffer {
  let bytes: Buffer;
  try {
    bytes = secretBytes(secret);
  } catch (error) {
    // Never echo the secret itself.
    throw new SigningSecretError(
      `signing secret #${n} is not a valid whsec_/base64 secret (${(error as Error).message})`,
    );
  }
  if (bytes.length < MIN_SIGNING_SECRET_BYTES) {
    throw new SigningSecretError(
      `signing secret #${n} is ${bytes.length} bytes; it must hold at least ${MIN_SIGNING_SECRET_BYTES} bytes ` +
        "(random bytes, base64-encoded)",
    );
  }
  return bytes;
}

/** The key bytes of a `whsec_…` or bare base64 secret, decoded as the Standard Webhooks libraries do. */
function secretBytes(secret: string): Buffer {
  const base64 = secret.startsWith("whsec_") ? secret.slice("whsec_".length) : secret;
  // The library's own parser is the arbiter of what a valid secret is (it throws on bad base64 / empty keys).
  new Webhook(base64);
  return Buffer.from(base64, "base64");
}

/**
 * The keys a topic's receivers verify with (one fan-out subscriber's, given one) from the environment's stored
 * value, plain or a rotation document: current first, then the previous one. What `npx punctual key`, `npm start`
 * and the local receiver show; the stored value is checked as deliver checks it.
 */
export function verificationKeys(raw: string, topic: string, subscriber?: string): string[] {
  return validSecrets(raw).map((secret) => {
    const topicKey = topicSigningKey(secret, topic);
    return subscriber === undefined ? topicKey : subscriberSigningKey(topicKey, subscriber);
  });
}

/** A topic's signer from the environment's secrets (current first, then a previous one during a rotation). */
export function topicSigner(secrets: readonly string[], topic: string): CallbackSigner {
  return new CallbackSigner(secrets.map((secret) => topicSigningKey(secret, topic)));
}

export type TopicSignerLoader = (topic: string) => Promise<CallbackSigner>;

/**
 * How long a container signs with the secret it read before reading it again: a rotation's document reaches every
 * warm container within this time (docs/CALLBACKS.md "Rotating the secret"). Five minutes keeps Secrets Manager's bill to
 * 288 reads a day per container.
 */
export const SIGNING_SECRET_MAX_AGE_MS = 5 * 60_000;
/** After a failed or refused re-read the last good secret stays in use, and the read is tried again this much later. */
export const SIGNING_SECRET_RETRY_MS = 30_000;
/**
 * How long deliveries of a container that holds a good secret wait for its due re-read before signing with that
 * secret (the read goes on; its answer is used once it lands). Secrets Manager answers in tens of milliseconds; a
 * slow or hung read must not hold every callback of the container — the SDK would wait 5 minutes per try.
 */
export const SIGNING_SECRET_REREAD_WAIT_MS = 1_000;
/** A read not answered by then is aborted and counts as failed: last good kept, or the calls fail and read again. */
export const SIGNING_SECRET_READ_TIMEOUT_MS = 10_000;

/** What the loader logs: a re-read secret applied (info), a re-read that failed or was refused (error). */
export type SigningLogger = Pick<ServiceLogger, "info" | "error">;

export interface SigningSecretLoaderOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly fetchSecret?: SecretFetcher;
  readonly clock?: () => number;
  readonly logger?: SigningLogger;
}

/**
 * Each topic's signer for this container: the environment's secret from PUNCTUAL_SIGNING_SECRET (local cloud) or
 * read from Secrets Manager (SIGNING_SECRET_ARN) and read again once it is SIGNING_SECRET_MAX_AGE_MS old, each
 * topic's key derived once per secret. Fails fast at cold start when neither variable is set. A container with no
 * secret yet fails the call (the record comes back, no attempt used) and reads again on the next; one that has a
 * secret keeps signing with it when a re-read fails or is refused, and logs why. A signer signs with the value the
 * container holds when it signs, not when it was handed out: deliver signs a batch's records started up front with
 * the signer it took at the batch's start, up to a whole invocation later (docs/CALLBACKS.md "Rotating the secret").
 */
export function signingSecretLoader(options: SigningSecretLoaderOptions = {}): TopicSignerLoader {
  const secrets = secretsLoader(options);
  const signers = new Map<string, CallbackSigner>();
  return async (topic) => {
    await secrets.load();
    let signer = signers.get(topic);
    if (!signer) {
      signer = new CallbackSigner(derivedKeys(secrets.held, (secret) => topicSigningKey(secret, topic)));
      signers.set(topic, signer);
    }
    return signer;
  };
}

/**
 * The environment's signing secrets: `load` reads them when due (see signingSecretLoader); `held` is what the
 * container signs with now — once `load` has answered — the same array while the stored value is unchanged.
 */
interface SecretsSource {
  readonly load: () => Promise<readonly string[]>;
  readonly held: () => readonly string[];
}

function secretsLoader(options: SigningSecretLoaderOptions): SecretsSource {
  const env = options.env ?? process.env;
  const inline = env[ENV.signingSecret];
  if (inline) {
    const secrets = validSecrets(inline);
    return { load: () => Promise.resolve(secrets), held: () => secrets };
  }
  const arn = env[ENV.signingSecretArn];
  if (!arn) {
    throw new MissingEnvironmentError(
      `missing environment variables: one of ${ENV.signingSecret}, ${ENV.signingSecretArn}`,
    );
  }
  return refreshingSecrets(arn, options);
}

/** A read under way, and when callers holding a good secret have waited for it long enough. */
interface Reread {
  readonly secrets: Promise<readonly string[]>;
  readonly waited: Promise<void>;
}

/**
 * Secrets Manager's value, read again when stale; concurrent callers share one read. A caller without a secret
 * waits for the read (at most the read timeout); one with a good secret at most SIGNING_SECRET_REREAD_WAIT_MS from
 * the read's start, then signs with the last good one.
 */
function refreshingSecrets(arn: string, options: SigningSecretLoaderOptions): SecretsSource {
  const clock = options.clock ?? Date.now;
  const logger = options.logger ?? console;
  let fetchSecret = options.fetchSecret;
  let good: { raw: string; secrets: readonly string[] } | undefined;
  let readAgainAt = 0;
  let reading: Reread | undefined;
  let wake: NodeJS.Timeout | undefined;

  const read = async (): Promise<readonly string[]> => {
    fetchSecret ??= secretsManagerFetcher();
    let raw: string;
    try {
      raw = await fetchWithin(fetchSecret, arn, SIGNING_SECRET_READ_TIMEOUT_MS);
    } catch (error) {
      return keepLastGood(error, "unreadable");
    }
    if (raw !== good?.raw) {
      let secrets: string[];
      try {
        secrets = validSecrets(raw);
      } catch (error) {
        return keepLastGood(error, "refused");
      }
      if (good)
        logger.info("signing secret changed: signing with the stored value now", { keys: secrets.length });
      good = { raw, secrets };
    }
    readAgainIn(SIGNING_SECRET_MAX_AGE_MS);
    return good.secrets;
  };

  // A container without a secret has nothing to sign with: the error goes to the caller (and the next call reads).
  const keepLastGood = (error: unknown, what: string): readonly string[] => {
    if (!good) throw error;
    readAgainIn(SIGNING_SECRET_RETRY_MS);
    logger.error(`signing secret ${what}; still signing with the last good one: ${errorText(error)}`, {
      secretArn: arn,
    });
    return good.secrets;
  };

  const reread = (): Reread =>
    (reading ??= startReread(read, () => {
      reading = undefined;
    }));

  // Read when due even if no delivery asks: a signer held through a long batch signs with what is held then. The
  // timer reads without asking the clock (it may fire a hair before `readAgainAt` by Date.now) and keeps no process
  // alive; a frozen container's fires when it thaws, its read shared with the first call's.
  const readAgainIn = (ms: number): void => {
    readAgainAt = clock() + ms;
    clearTimeout(wake);
    wake = setTimeout(() => reread().secrets.catch(() => undefined), ms).unref();
  };

  const load = (): Promise<readonly string[]> => {
    if (good && clock() < readAgainAt) return Promise.resolve(good.secrets);
    const { secrets, waited } = reread();
    if (!good) return secrets;
    const lastGood = good.secrets;
    return Promise.race([secrets, waited.then(() => lastGood)]);
  };
  return { load, held: () => good?.secrets ?? [] };
}

/** Starts `read`, and the wait after which callers holding a good secret stop waiting for it; `done` when it ends. */
function startReread(read: () => Promise<readonly string[]>, done: () => void): Reread {
  let timer: NodeJS.Timeout | undefined;
  const waited = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, SIGNING_SECRET_REREAD_WAIT_MS);
  });
  const secrets = read().finally(() => {
    clearTimeout(timer);
    done();
  });
  return { secrets, waited };
}

/** The fetcher's answer, or a SigningSecretError once `timeoutMs` has passed without one (the read is aborted). */
async function fetchWithin(fetchSecret: SecretFetcher, arn: string, timeoutMs: number): Promise<string> {
  const abort = new AbortController();
  const pending = fetchSecret(arn, abort.signal);
  const answer = await withinMs(pending, timeoutMs);
  if (answer !== "overdue") return answer;
  // Its rejection (the abort's) comes after we gave up on it: nobody else waits for it.
  pending.catch(() => undefined);
  abort.abort();
  throw new SigningSecretError(`reading the secret took over ${timeoutMs} ms; abandoned`);
}

/** The secrets of a stored value, each checked as a Standard Webhooks secret (errors never echo the secret). */
function validSecrets(raw: string): string[] {
  const secrets = parseSigningSecrets(raw);
  for (const [i, secret] of secrets.entries()) environmentSecretBytes(secret, i + 1);
  return secrets;
}
