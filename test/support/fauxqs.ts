import { SQSClient } from "@aws-sdk/client-sqs";
import { type FauxqsServer, startFauxqs } from "fauxqs";
import { afterAll, beforeAll } from "vitest";

/** fauxqs on a free loopback port, and a real SDK client for it: the adapters' and emulators' tests share it. */
export interface SqsHarness {
  readonly server: FauxqsServer;
  readonly sqs: SQSClient;
  stop(): Promise<void>;
}

export const FAUXQS_REGION = "us-east-1";

export async function startSqs(): Promise<SqsHarness> {
  const server = await startFauxqs({ port: 0, host: "127.0.0.1", logger: false });
  const sqs = new SQSClient({
    endpoint: `http://127.0.0.1:${server.port}`,
    region: FAUXQS_REGION,
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
  });
  return {
    server,
    sqs,
    async stop() {
      sqs.destroy();
      await server.stop();
    },
  };
}

/** One fauxqs for the calling test file: started before its tests, stopped after them. */
export function useFauxqs(): Pick<SqsHarness, "server" | "sqs"> {
  let harness: SqsHarness | undefined;
  beforeAll(async () => {
    harness = await startSqs();
  });
  afterAll(async () => {
    await harness?.stop();
  });
  const started = (): SqsHarness => {
    if (!harness) throw new Error("fauxqs is not started: use it inside a test");
    return harness;
  };
  return {
    get server() {
      return started().server;
    },
    get sqs() {
      return started().sqs;
    },
  };
}
