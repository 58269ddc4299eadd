import { createHash, randomUUID } from "node:crypto";
import { type FSWatcher, watch } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { readBody } from "./request-body.js";
import { refusingWebPages } from "./web-pages.js";

/**
 * AWS AppConfig Data, locally: the two operations Powertools' AppConfig provider calls — StartConfigurationSession
 * (`POST /configurationsessions` → 201 `{"InitialConfigurationToken"}`) and GetLatestConfiguration
 * (`GET /configuration?configuration_token=…` → the document as the body, or an empty body when the session already
 * has the latest version, with `Next-Poll-Configuration-Token`, `Next-Poll-Interval-In-Seconds`, `Content-Type` and
 * `Version-Label` headers) — over the REST-JSON wire format the SDK speaks, so the functions run their AWS code path.
 *
 * Written here because no maintained emulator of AppConfig Data runs without Docker. What AppConfig's control plane
 * does — validate a new version with the profile's validator and deploy it — is done by a file: each poll reads the
 * settings file; a changed file is validated (the template's validator function, the same code AppConfig would
 * invoke) and, if accepted, becomes the deployed version. A refused file changes nothing and the log says why.
 */
export interface AppConfigEmulatorOptions {
  readonly host: string;
  /** The document file an operator edits (`npm start`: .punctual/local-settings.json). */
  readonly settingsFile: string;
  /** The template's hosted version (the CDK-declared settings): written when the file does not exist yet. */
  readonly initialContent: string;
  /** Application, environment and profile ids a session must name (what the template's resources resolve to). */
  readonly ids: { readonly application: string; readonly environment: string; readonly profile: string };
  readonly log: (line: string) => void;
  /**
   * The local cloud's functions refresh the settings every second, so an edit shows at once: a session that asked
   * for a poll interval is not held to it (AWS: at least 15 s, where a function's 45 s cache keeps 30 s clear of it;
   * a 1 s hold against a 1 s cache raced and refused polls now and then). A session that asked for none is held to
   * AWS's default 60 s here too, so a client that leaves the interval to the default and polls more often fails
   * locally as it would on AWS. Absent: every session is held to its own interval, as on AWS.
   */
  readonly fastRefresh?: boolean;
  /**
   * The wait between two reads of a changed file (default SETTLE_MS); tests inject it to hold a save half-way.
   * A changed file is judged once two reads this far apart agree (see DeploymentState.settledContent).
   */
  readonly settle?: () => Promise<void>;
}

/**
 * How long a changed settings file must stay as read before it is judged. An editor that saves in place
 * (truncate, then write) shows an empty or half-written file for a moment; judged at once, it was reported
 * "refused … not JSON" and then "deployed" for the one valid edit. Short against the "applied within a second".
 */
export const SETTLE_MS = 100;

/** What the profile's validator says of a candidate document: nothing, or why it is refused. */
export type SettingsValidator = (content: string, version: number) => Promise<string | undefined>;

export interface AppConfigEmulator {
  readonly url: string;
  /** Installs the validator (the local cloud has it once the functions are loaded); files are read after this. */
  useValidator(validator: SettingsValidator): void;
  /** The version now deployed (1 = the file as found at start, or the CDK's defaults). */
  deployedVersion(): number;
  stop(): Promise<void>;
}

interface Deployed {
  readonly version: number;
  readonly content: Buffer;
}

interface SessionToken {
  readonly s: string;
  /** This token's own id: what the ledger of spent tokens records. */
  readonly n: string;
  /** When this token was issued (ms): AWS honours a token for 24 hours. */
  readonly t: number;
  /** The version this session's client holds (0: none yet). */
  readonly seen: number;
  /** The session's RequiredMinimumPollIntervalInSeconds, when it gave one (AWS's default otherwise). */
  readonly i?: number;
  /** When this token was handed out by a poll (ms); the session's first token may be used at once. */
  readonly at?: number;
}

/**
 * AWS's rules for a session's poll interval: RequiredMinimumPollIntervalInSeconds is an integer of 15–86,400,
 * 60 s when not given, and a GetLatestConfiguration sooner than that after the previous one is refused with
 * BadRequestException "Request too early" (StartConfigurationSession's API reference; the refusal as Powertools'
 * maintainers met it: github.com/aws-powertools/powertools-lambda-python/issues/1506).
 */
const POLL_INTERVAL = { min: 15, max: 86_400, default: 60 } as const;

/**
 * AWS: "Each configuration token is only valid for one call to GetLatestConfiguration", a token is valid for up to
 * 24 hours, and one past either is refused with BadRequestException
 * (https://docs.aws.amazon.com/appconfig/2021-11-11/APIReference/API_appconfigdata_GetLatestConfiguration.html).
 * The refusal's detail names the token's problem, one of Corrupted | Expired | PollIntervalNotSatisfied
 * (https://docs.aws.amazon.com/appconfig/2019-10-09/APIReference/API_appconfigdata_InvalidParameterDetail.html);
 * AWS names none for reuse, and a spent token is Expired here. A client that keeps a spent token (a lost answer,
 * the SDK's retry of it) must fail locally as it would on AWS. This is the documented contract; AWS has been seen to
 * take an initial token twice (github.com/aws-powertools/powertools-lambda-python/issues/1506), so the emulator may
 * be the stricter of the two, which can only show a defect, never hide one. A poll refused as too early leaves its
 * token unspent (AWS documents nothing either way; our port starts a new session after any failed poll).
 */
const TOKEN_LIFETIME_MS = 24 * 60 * 60 * 1000;

type TokenProblem = "Corrupted" | "Expired" | "PollIntervalNotSatisfied";

/**
 * The tokens used so far, by id with the time of their use, forgotten 24 hours after it: a token is issued before
 * it is used, so by then it has expired anyway.
 */
class SpentTokens {
  private readonly spent = new Map<string, number>();

  /** Records the token's one call; false when it was used before or is past its lifetime. */
  spend(token: SessionToken, now: number): boolean {
    for (const [id, usedAt] of this.spent) {
      if (usedAt + TOKEN_LIFETIME_MS >= now) break; // kept in order of use: the rest are younger
      this.spent.delete(id);
    }
    if (token.t + TOKEN_LIFETIME_MS < now || this.spent.has(token.n)) return false;
    this.spent.set(token.n, now);
    return true;
  }
}

export async function startAppConfigEmulator(options: AppConfigEmulatorOptions): Promise<AppConfigEmulator> {
  await writeSettingsFile(options);
  const state = new DeploymentState(options);
  const spent = new SpentTokens();
  // Web pages are refused like at every local emulator (a rebound page could read the topic settings).
  const server = http.createServer(
    refusingWebPages((req, res) => {
      handle(req, res, options, state, spent).catch((error: unknown) => {
        options.log(`appconfig emulator: ${(error as Error).message}`);
        answerError(res, 500, "InternalServerException", "internal error");
      });
    }),
  );
  await new Promise<void>((resolve) => server.listen(0, options.host, resolve));
  const { port } = server.address() as AddressInfo;
  const watcher = watchSettingsFile(options, state);
  return {
    url: `http://${options.host}:${port}`,
    useValidator: (validator) => state.useValidator(validator),
    deployedVersion: () => state.current()?.version ?? 0,
    stop: () =>
      new Promise<void>((resolve) => {
        watcher?.close();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * Each poll re-reads the file anyway; watching its directory (editors often replace the file) only makes an edit's
 * verdict show in the log at once, with no invocation needed. So a watch Linux refuses (ENOSPC: the user's inotify
 * limit, reached on many a developer's machine) or that fails later is logged, and the cloud runs without it.
 */
function watchSettingsFile(options: AppConfigEmulatorOptions, state: DeploymentState): FSWatcher | undefined {
  const unwatched = (error: unknown) =>
    options.log(
      `topic settings: not watching ${options.settingsFile} (${(error as Error).message}); an edit is read at the next poll`,
    );
  try {
    const watcher = watch(path.dirname(options.settingsFile), (_event, name) => {
      if (name !== path.basename(options.settingsFile)) return;
      state.refresh().catch((error: unknown) => options.log(`topic settings: ${(error as Error).message}`));
    });
    watcher.on("error", (error) => {
      unwatched(error);
      watcher.close();
    });
    return watcher;
  } catch (error) {
    unwatched(error);
    return undefined;
  }
}

/** Beside the settings file: the environment's document it was last written from (see writeSettingsFile). */
export function configBaseFile(settingsFile: string): string {
  return `${settingsFile}.config-base.json`;
}

/**
 * Writes the environment's document (the template's hosted version) when the file does not exist yet, and again,
 * over the runtime edits, when the environment's document changed since the file was written from it: on AWS a
 * deploy whose environment file changes the settings deploys a new version that replaces the runtime edits
 * (docs/OPERATIONS.md), and locally a restart is that deploy. The file used to be written once and kept, so an edit
 * of shared/config/environments/local.ts (or PUNCTUAL_CONFIG_OVERRIDES) to a runtime row did nothing at the next
 * `npm start`, and one to a deploy-bound row (`maxConcurrency`) had the kept file refused. The replaced file is kept
 * as `<file>.previous.json`. A file with no record of its base (written before this rule, or by hand) is kept.
 */
async function writeSettingsFile(options: AppConfigEmulatorOptions): Promise<void> {
  const { settingsFile: file, initialContent: content } = options;
  await mkdir(path.dirname(file), { recursive: true });
  const current = await readIfPresent(file);
  const base = await readIfPresent(configBaseFile(file));
  // A file of unknown origin stays as it is, and stays unknown: recording today's settings as its base would
  // take a file written from older ones for current.
  if (current !== undefined && (base === undefined || base === content)) return;
  // Only a file edited since it was written holds something to keep; an unedited one is simply rewritten.
  if (current !== undefined && current !== base && current !== content) {
    await writeFile(`${file}.previous.json`, current);
    options.log(
      `topic settings: the environment's settings changed since ${file} was written from them: replaced it with ` +
        `them, as a deploy replaces runtime edits (the edited file is kept as ${file}.previous.json)`,
    );
  }
  await writeFile(file, content);
  await writeFile(configBaseFile(file), content);
}

async function readIfPresent(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

/** The deployed version and the file's last seen hash; a changed file goes through the validator once. */
class DeploymentState {
  private deployed: Deployed | undefined;
  private seenHash: string | undefined;
  private validator: SettingsValidator | undefined;
  private refreshing: Promise<void> | undefined;
  private rereading: Promise<void> | undefined;

  constructor(private readonly options: AppConfigEmulatorOptions) {}

  useValidator(validator: SettingsValidator): void {
    this.validator = validator;
  }

  current(): Deployed | undefined {
    return this.deployed;
  }

  /**
   * One refresh at a time. One asked for while another runs reads the file again once it is over (every caller in
   * that time shares that one): joined to the running one, it could miss a change that one had read too early — an
   * editor's two-step save read half-way (empty: refused) left the edit unread until some function polled.
   */
  refresh(): Promise<void> {
    if (!this.refreshing) {
      this.refreshing = this.readFile().finally(() => {
        this.refreshing = undefined;
      });
      return this.refreshing;
    }
    this.rereading ??= this.refreshing
      .catch(() => undefined)
      .then(() => {
        this.rereading = undefined;
        return this.refresh();
      });
    return this.rereading;
  }

  private async readFile(): Promise<void> {
    const validator = this.validator;
    if (!validator) return;
    const content = await this.settledContent();
    const hash = hashOf(content);
    if (hash === this.seenHash) return;
    this.seenHash = hash;
    const version = (this.deployed?.version ?? 0) + 1;
    const problem = content
      ? await validator(content.toString("utf8"), version)
      : `${this.options.settingsFile} does not exist`;
    if (problem === undefined && content) {
      this.deployed = { version, content };
      this.options.log(`topic settings: deployed version ${version} from ${this.options.settingsFile}`);
      return;
    }
    this.options.log(
      `topic settings: refused ${this.options.settingsFile}, keeping version ${this.deployed?.version ?? "(CDK defaults)"}: ${problem}`,
    );
    this.deployed ??= { version, content: Buffer.from(this.options.initialContent) };
  }

  /**
   * The file as it stays: a content other than the last judged one is read again after a settle, until two reads
   * agree, so a save caught half-way is never judged (nor logged as refused). An unchanged file answers at once,
   * so a poll waits only when the file changed. Both the watcher and the polls come through here.
   */
  private async settledContent(): Promise<Buffer | undefined> {
    const settle = this.options.settle ?? (() => sleep(SETTLE_MS, undefined, { ref: false }));
    let content = await readSettings(this.options.settingsFile);
    let hash = hashOf(content);
    while (hash !== this.seenHash) {
      await settle();
      const again = await readSettings(this.options.settingsFile);
      const againHash = hashOf(again);
      if (againHash === hash) break;
      content = again;
      hash = againHash;
    }
    return content;
  }
}

function readSettings(file: string): Promise<Buffer | undefined> {
  return readFile(file).catch(() => undefined);
}

function hashOf(content: Buffer | undefined): string {
  return content ? createHash("sha256").update(content).digest("hex") : "missing";
}

async function handle(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  options: AppConfigEmulatorOptions,
  state: DeploymentState,
  spent: SpentTokens,
): Promise<void> {
  const url = new URL(req.url ?? "/", "http://localhost");
  const body = await readBody(req);
  if (req.method === "POST" && url.pathname === "/configurationsessions") {
    startSession(res, body, options);
    return;
  }
  if (req.method === "GET" && url.pathname === "/configuration") {
    await latestConfiguration(res, url.searchParams.get("configuration_token"), { state, spent, options });
    return;
  }
  answerError(res, 404, "ResourceNotFoundException", `no operation ${req.method} ${url.pathname}`);
}

function startSession(res: http.ServerResponse, body: string, options: AppConfigEmulatorOptions): void {
  let input: Record<string, unknown>;
  try {
    input = JSON.parse(body || "{}");
  } catch {
    answerError(res, 400, "BadRequestException", "request body is not JSON");
    return;
  }
  const { application, environment, profile } = options.ids;
  const named = [
    input.ApplicationIdentifier,
    input.EnvironmentIdentifier,
    input.ConfigurationProfileIdentifier,
  ];
  if (named[0] !== application || named[1] !== environment || named[2] !== profile) {
    answerError(res, 404, "ResourceNotFoundException", `no configuration ${named.map(String).join("/")}`);
    return;
  }
  const interval = input.RequiredMinimumPollIntervalInSeconds;
  if (
    interval !== undefined &&
    !(
      Number.isInteger(interval) &&
      (interval as number) >= POLL_INTERVAL.min &&
      (interval as number) <= POLL_INTERVAL.max
    )
  ) {
    answerError(
      res,
      400,
      "BadRequestException",
      `RequiredMinimumPollIntervalInSeconds must be an integer from ${POLL_INTERVAL.min} to ${POLL_INTERVAL.max}`,
    );
    return;
  }
  const token: SessionToken = {
    s: `${application}/${environment}/${profile}`,
    n: randomUUID(),
    t: Date.now(),
    seen: 0,
    ...(interval === undefined ? {} : { i: interval as number }),
  };
  res.writeHead(201, { "content-type": "application/json" });
  res.end(JSON.stringify({ InitialConfigurationToken: encodeToken(token) }));
}

async function latestConfiguration(
  res: http.ServerResponse,
  rawToken: string | null,
  {
    state,
    spent,
    options,
  }: { state: DeploymentState; spent: SpentTokens; options: AppConfigEmulatorOptions },
): Promise<void> {
  const token = rawToken ? decodeToken(rawToken) : undefined;
  if (!token) {
    refuseToken(res, "Corrupted", "invalid configuration token");
    return;
  }
  const now = Date.now();
  const heldTo = token.i !== undefined && options.fastRefresh ? 0 : token.i;
  if (token.at !== undefined && now < token.at + (heldTo ?? POLL_INTERVAL.default) * 1000) {
    refuseToken(res, "PollIntervalNotSatisfied", "Request too early");
    return;
  }
  // Spent before the answer is built: of two calls with one token, one is answered.
  if (!spent.spend(token, now)) {
    refuseToken(res, "Expired", "configuration token already used or expired");
    return;
  }
  await state.refresh();
  const deployed = state.current();
  const fresh = deployed && deployed.version > token.seen ? deployed : undefined;
  const next: SessionToken = {
    s: token.s,
    n: randomUUID(),
    t: now,
    seen: deployed?.version ?? token.seen,
    ...(token.i === undefined ? {} : { i: token.i }),
    at: now,
  };
  res.writeHead(200, {
    "next-poll-configuration-token": encodeToken(next),
    "next-poll-interval-in-seconds": String(token.i ?? POLL_INTERVAL.default),
    "content-type": "application/json",
    ...(fresh ? { "version-label": String(fresh.version) } : {}),
  });
  res.end(fresh ? fresh.content : undefined);
}

function encodeToken(token: SessionToken): string {
  return Buffer.from(JSON.stringify(token)).toString("base64url");
}

function decodeToken(raw: string): SessionToken | undefined {
  try {
    const token = JSON.parse(Buffer.from(raw, "base64url").toString("utf8")) as SessionToken;
    const optional = (value: unknown) => value === undefined || Number.isFinite(value);
    return typeof token.s === "string" &&
      typeof token.n === "string" &&
      Number.isFinite(token.t) &&
      Number.isInteger(token.seen) &&
      optional(token.i) &&
      optional(token.at)
      ? token
      : undefined;
  } catch {
    return undefined;
  }
}

/** AWS's BadRequestException for a token, with the InvalidParameters detail its SDKs parse. */
function refuseToken(res: http.ServerResponse, problem: TokenProblem, message: string): void {
  answerError(res, 400, "BadRequestException", message, {
    Reason: "InvalidParameters",
    Details: { InvalidParameters: { ConfigurationToken: { Problem: problem } } },
  });
}

function answerError(
  res: http.ServerResponse,
  status: number,
  type: string,
  message: string,
  detail: Record<string, unknown> = {},
): void {
  if (res.headersSent) return;
  res.writeHead(status, { "content-type": "application/json", "x-amzn-errortype": type });
  res.end(JSON.stringify({ Message: message, ...detail }));
}
