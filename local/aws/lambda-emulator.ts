import { existsSync, readFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { writeFileAtomicSync } from "#local/runtime/atomic-file.js";
import { DataFileError } from "#local/runtime/data-file-error.js";
import { readBody } from "./request-body.js";
import { refusingWebPages } from "./web-pages.js";

/**
 * A minimal Lambda API for event source mappings: GetEventSourceMapping and UpdateEventSourceMapping (only
 * `Enabled`), on Lambda's REST-JSON wire protocol (`GET|PUT /2015-03-31/event-source-mappings/{UUID}`), so
 * `@aws-sdk/client-lambda` works against it unchanged. Written here because no emulator we use has Lambda, and
 * these two calls are all the topic routes make. It runs in the local cloud's main process, next to the
 * event-source runners it switches (the AWS emulators' child process has no runners); the gateway forwards
 * Lambda calls here.
 *
 * An update is answered at once with the state it starts (202 `Disabling` / `Enabling`, as Lambda answers), and a
 * pause stays `Disabling` until the runner's in-flight batches have finished; meanwhile another update of the mapping
 * is refused with Lambda's ResourceInUseException, changing nothing ("The operation conflicts with the resource's
 * availability. For example, you tried to update an event source mapping in the CREATING state, or you tried to
 * delete an event source mapping currently UPDATING",
 * https://docs.aws.amazon.com/botocore/latest/reference/services/lambda/client/exceptions/ResourceInUseException.html;
 * HTTP 400 and the states Creating | Enabling | Enabled | Disabling | Disabled | Updating | Deleting as in the
 * service model @aws-sdk/client-lambda is generated from). Answering
 * only once the pause had settled, and taking a resume in the middle of one, the emulator never showed the topic
 * routes the transitional states and the refusal they handle on AWS (shared/adapters/topic-switch.ts).
 *
 * Enabled state is kept in `persistencePath` (the --data directory) when given, as AWS keeps a mapping's
 * Enabled across everything: a topic paused before a restart stays paused. The file is replaced atomically, and
 * one that cannot be read fails the start naming it: starting with every mapping enabled instead would quietly
 * resume a paused topic.
 */
export interface LocalMapping {
  readonly uuid: string;
  readonly functionArn: string;
  readonly eventSourceArn: string;
  readonly batchSize: number;
  /** MaximumBatchingWindowInSeconds, as the template declares it (Lambda reports it for SQS mappings). */
  readonly maximumBatchingWindowSeconds?: number;
  /** Stop receiving (in-flight batches finish) / start again. */
  pause(): Promise<void>;
  resume(): void;
}

export interface LambdaEmulator {
  readonly url: string;
  /** Registers a mapping and applies its persisted state (a paused mapping starts paused). */
  register(mapping: LocalMapping): Promise<void>;
  isEnabled(uuid: string): boolean | undefined;
  stop(): Promise<void>;
}

const PATH = /^\/2015-03-31\/event-source-mappings\/([^/?]+)\/?(?:\?.*)?$/;

export async function startLambdaEmulator(options: {
  readonly host: string;
  readonly port?: number;
  readonly persistencePath?: string;
}): Promise<LambdaEmulator> {
  const mappings = new Map<string, LocalMapping>();
  const enabled = new Map<string, boolean>(Object.entries(readPersisted(options.persistencePath)));
  // LastModified: when each mapping was registered, last switched or settled (the sweeper's settings hold reads it).
  const modifiedAtMs = new Map<string, number>();
  // Mappings whose switch is still being applied (a pause waiting for its in-flight batches).
  const switching = new Set<string>();
  const setEnabled = (mapping: LocalMapping, value: boolean) => {
    enabled.set(mapping.uuid, value);
    modifiedAtMs.set(mapping.uuid, Date.now());
    if (options.persistencePath) {
      writeFileAtomicSync(options.persistencePath, JSON.stringify(Object.fromEntries(enabled), null, 2));
    }
    switching.add(mapping.uuid);
    const settle = () => {
      switching.delete(mapping.uuid);
      modifiedAtMs.set(mapping.uuid, Date.now());
    };
    if (value) {
      mapping.resume();
      queueMicrotask(settle);
    } else void mapping.pause().then(settle, settle);
  };

  // No auth: a web page could otherwise pause a topic's delivery (PUT Enabled=false) through the browser.
  const server = http.createServer(
    refusingWebPages((req, res) => {
      readBody(req).then(
        (body) =>
          answer(req, body, mappings, { enabled, modifiedAtMs, switching }, setEnabled).then((out) =>
            send(res, out),
          ),
        () => req.socket.destroy(),
      );
    }),
  );
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, options.host, resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${options.host}:${port}`,
    register: async (mapping) => {
      mappings.set(mapping.uuid, mapping);
      modifiedAtMs.set(mapping.uuid, Date.now());
      if (enabled.get(mapping.uuid) === false) await mapping.pause();
    },
    isEnabled: (uuid) => (mappings.has(uuid) ? enabled.get(uuid) !== false : undefined),
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

interface Answer {
  readonly status: number;
  readonly body: unknown;
  readonly errorType?: string;
}

/** Each mapping's Enabled and LastModified (ms), and which are still switching, as the emulator keeps them. */
interface MappingStates {
  readonly enabled: ReadonlyMap<string, boolean>;
  readonly modifiedAtMs: ReadonlyMap<string, number>;
  readonly switching: ReadonlySet<string>;
}

async function answer(
  req: http.IncomingMessage,
  body: string,
  mappings: ReadonlyMap<string, LocalMapping>,
  states: MappingStates,
  setEnabled: (mapping: LocalMapping, value: boolean) => void,
): Promise<Answer> {
  const uuid = PATH.exec(req.url ?? "")?.[1];
  if (!uuid) return lambdaError(404, "ResourceNotFoundException", "unknown operation");
  const mapping = mappings.get(decodeURIComponent(uuid));
  if (!mapping) {
    return lambdaError(404, "ResourceNotFoundException", `The resource you requested does not exist.`);
  }
  if (req.method === "GET") return { status: 200, body: configuration(mapping, states) };
  if (req.method !== "PUT") return lambdaError(405, "InvalidParameterValueException", "method not allowed");
  let input: { Enabled?: unknown };
  try {
    input = JSON.parse(body || "{}");
  } catch {
    return lambdaError(400, "InvalidParameterValueException", "body is not JSON");
  }
  if (input.Enabled !== undefined && typeof input.Enabled !== "boolean") {
    return lambdaError(400, "InvalidParameterValueException", "Enabled must be a boolean");
  }
  if (typeof input.Enabled === "boolean") {
    if (states.switching.has(mapping.uuid)) {
      return lambdaError(
        400,
        "ResourceInUseException",
        "Cannot update the event source mapping because it is in use: a previous update is still in progress.",
      );
    }
    if (input.Enabled !== (states.enabled.get(mapping.uuid) !== false)) setEnabled(mapping, input.Enabled);
  }
  // AWS answers 202 with the configuration: a switch just started reads Disabling / Enabling.
  return { status: 202, body: configuration(mapping, states) };
}

function configuration(mapping: LocalMapping, { enabled, modifiedAtMs, switching }: MappingStates) {
  const on = enabled.get(mapping.uuid) !== false;
  const settled = on ? "Enabled" : "Disabled";
  return {
    UUID: mapping.uuid,
    FunctionArn: mapping.functionArn,
    EventSourceArn: mapping.eventSourceArn,
    BatchSize: mapping.batchSize,
    ...(mapping.maximumBatchingWindowSeconds !== undefined
      ? { MaximumBatchingWindowInSeconds: mapping.maximumBatchingWindowSeconds }
      : {}),
    State: switching.has(mapping.uuid) ? (on ? "Enabling" : "Disabling") : settled,
    LastModified: (modifiedAtMs.get(mapping.uuid) ?? Date.now()) / 1000,
  };
}

function lambdaError(status: number, type: string, message: string): Answer {
  return { status, errorType: type, body: { Type: "User", message } };
}

function send(res: http.ServerResponse, out: Answer): void {
  const text = JSON.stringify(out.body);
  res.writeHead(out.status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
    ...(out.errorType ? { "x-amzn-errortype": out.errorType } : {}),
  });
  res.end(text);
}

function readPersisted(path: string | undefined): Record<string, boolean> {
  if (!path || !existsSync(path)) return {};
  const refuse = (reason: string) =>
    new DataFileError(
      path,
      `${path} is not a valid event-source mappings file (${reason}); fix it, or delete it to start with every ` +
        "mapping enabled (a paused topic then delivers again)",
    );
  let state: unknown;
  try {
    state = JSON.parse(readFileSync(path, "utf8"));
  } catch (error) {
    throw refuse(error instanceof Error ? error.message : String(error));
  }
  if (typeof state !== "object" || state === null || Array.isArray(state)) {
    throw refuse("expected an object of mapping UUID → true or false");
  }
  for (const [uuid, value] of Object.entries(state)) {
    if (typeof value !== "boolean") throw refuse(`mapping ${uuid}: expected true or false`);
  }
  return state as Record<string, boolean>;
}
