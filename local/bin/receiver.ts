/**
 * A callback receiver for trying Punctual locally: verifies each delivery's Standard Webhooks signature with its
 * topic's verification key and prints it. `npm run receiver -- [port] [topic] [subscriber]` (default 4000, demo;
 * port 0 takes a free one): the script `exec`s tsx, so a SIGTERM sent to npm reaches it (README, "Run it locally").
 * A real receiver holds one topic's key only; this one derives the key of the topic it serves, or of one subscriber
 * of a fan-out topic, whose callbacks are signed with that subscriber's key alone.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { Webhook } from "standardwebhooks";
import { DEFAULT_LOCAL_SIGNING_SECRET } from "#local/cloud/local-cloud.js";
import { signingSecretMessage } from "#local/cloud/start-failure.js";
import { visible } from "#shared/domain/visible-text.js";
import { SigningSecretError, verificationKeys } from "#shared/security/signing.js";

const port = Number(process.argv[2] ?? 4000);
if (!(Number.isInteger(port) && port >= 0 && port <= 65_535)) {
  process.stderr.write(`receiver: the port (first argument) must be 0-65535, not ${process.argv[2]}\n`);
  process.exit(1);
}
const topic = process.argv[3] ?? "demo";
const subscriber = process.argv[4];
// The current key (a rotation document as the secret is accepted, as deliver accepts it).
const [currentKey] = (() => {
  try {
    return verificationKeys(
      process.env.PUNCTUAL_SIGNING_SECRET ?? DEFAULT_LOCAL_SIGNING_SECRET,
      topic,
      subscriber,
    );
  } catch (error) {
    // A malformed PUNCTUAL_SIGNING_SECRET is one line, as npm start says it, not a stack trace.
    if (!(error instanceof SigningSecretError)) throw error;
    process.stderr.write(`receiver: ${signingSecretMessage(error)}\n`);
    process.exit(1);
  }
})();
const serves = subscriber === undefined ? `topic ${topic}` : `topic ${topic}, subscriber ${subscriber}`;
const webhook = new Webhook(currentKey as string);

const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (chunk: Buffer) => chunks.push(chunk));
  req.on("end", () => {
    const body = Buffer.concat(chunks).toString("utf8");
    let verdict = "signature OK";
    try {
      webhook.verify(body, req.headers as Record<string, string>);
    } catch (error) {
      verdict = `signature INVALID (${(error as Error).message})`;
    }
    // Each value the sender chose as visible text: anything may POST here (a web page too, a text/plain POST needs
    // no preflight), and an escape sequence printed raw acts on the terminal (clears it, writes the clipboard).
    const attempt = req.headers["punctual-attempt"];
    process.stdout.write(
      `${new Date().toISOString()} ${req.method} ${visible(req.url ?? "")} attempt=${visible(String(attempt))} ${visible(verdict)}\n  ${visible(body)}\n`,
    );
    res.writeHead(verdict === "signature OK" ? 204 : 400).end();
  });
});
// A port taken (often :4000, by a dev server or a receiver already running) is one line, not a stack trace.
server.on("error", (error: NodeJS.ErrnoException) => {
  const problem =
    error.code === "EADDRINUSE"
      ? `127.0.0.1:${port} is already in use: stop what holds it, or give another port (first argument)`
      : error.message;
  process.stderr.write(`receiver: ${problem}\n`);
  process.exit(1);
});
// The bound port, not the one asked for: port 0 takes a free one.
server.listen(port, "127.0.0.1", () => {
  const { port: bound } = server.address() as AddressInfo;
  process.stdout.write(`receiver for ${serves} listening on http://127.0.0.1:${bound}\n`);
});
