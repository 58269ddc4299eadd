/**
 * A stand-in for local/aws/thread-main.ts that starts, then dies as the emulators' thread does when the disk holding
 * --data fills up (LevelDB's write error, uncaught).
 */
import { parentPort } from "node:worker_threads";

parentPort?.postMessage({ type: "ready", gatewayUrl: "http://127.0.0.1:9", endpoints: {} });
setTimeout(() => {
  throw new Error("IO error: /data/dynamodb/000003.log: No space left on device");
}, 50);
