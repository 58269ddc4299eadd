import type http from "node:http";
import ipaddr from "ipaddr.js";

/**
 * In front of every socket the local cloud's AWS side listens on (the emulators, the gateway, the fault
 * proxies, the Lambda and AppConfig APIs): a request a web page could have sent is refused (403, no CORS
 * headers). They check no signature, so otherwise any page open in the developer's browser could use them:
 * dynalite answers CORS for any origin (the page reads and writes the table), and the Scheduler emulator reads
 * a text/plain body as JSON (a form-like POST, no preflight, creates a schedule).
 * - A request with an `Origin` comes from a page: browsers send it on every such request and on the preflight;
 *   AWS SDKs and our tools never do.
 * - DNS rebinding: a page on the attacker's domain, made to resolve to 127.0.0.1, is same-origin with it and
 *   its GETs carry no Origin, but they carry that domain as `Host`. Our clients name a loopback address or
 *   `localhost` (fauxqs's queue URLs `sqs.<region>.localhost:<port>`), so any other Host is refused.
 */
export function refusingWebPages(listener: http.RequestListener): http.RequestListener {
  return (req, res) => {
    const refusal = refusalOf(req);
    if (refusal === undefined) return listener(req, res);
    req.resume();
    refuse(req, res, refusal);
  };
}

function refusalOf(req: http.IncomingMessage): string | undefined {
  if (req.headers.origin !== undefined) return "the local emulators do not answer web pages";
  if (!isLoopbackHost(req.headers.host)) {
    return "the local emulators answer only requests addressed to a loopback host (localhost, 127.0.0.1, [::1])";
  }
  return undefined;
}

/**
 * Whether a Host header (port or not) names loopback: `localhost`, `*.localhost` (RFC 6761: they resolve to
 * loopback only), an IPv4 address in 127.0.0.0/8, or `[::1]` (also `[::ffff:127.x.y.z]`).
 */
export function isLoopbackHost(host: string | undefined): boolean {
  const name = /^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(?::\d*)?$/i.exec(host ?? "")?.[1]?.toLowerCase();
  if (!name) return false;
  if (name === "localhost" || name.endsWith(".localhost")) return true;
  if (ipaddr.IPv4.isValidFourPartDecimal(name)) return ipaddr.IPv4.parse(name).range() === "loopback";
  const bare = name.slice(1, -1);
  if (!name.startsWith("[") || !ipaddr.IPv6.isValid(bare)) return false;
  const ip = ipaddr.IPv6.parse(bare);
  return (ip.isIPv4MappedAddress() ? ip.toIPv4Address() : ip).range() === "loopback";
}

/**
 * The refusal in the caller's protocol: an SQS query-protocol call (a form body) gets the XML ErrorResponse its
 * SDK parses; every other (JSON, REST-JSON) call gets `__type` / `x-amzn-errortype` and the message.
 */
function refuse(req: http.IncomingMessage, res: http.ServerResponse, message: string): void {
  const form = String(req.headers["content-type"] ?? "").startsWith("application/x-www-form-urlencoded");
  if (form && req.headers["x-amz-target"] === undefined) {
    res
      .writeHead(403, { "content-type": "text/xml" })
      .end(
        `<?xml version="1.0"?><ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code>` +
          `<Message>${message}</Message></Error><RequestId>local</RequestId></ErrorResponse>`,
      );
    return;
  }
  res
    .writeHead(403, { "content-type": "application/json", "x-amzn-errortype": "AccessDeniedException" })
    .end(JSON.stringify({ __type: "AccessDeniedException", message, Message: message }));
}
