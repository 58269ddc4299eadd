import type http from "node:http";

/**
 * In front of an emulator's socket: a request that carries an Origin comes from a web page, and is refused (403,
 * no CORS headers). The emulators check no signature, so otherwise any page open in the developer's browser
 * could use them: dynalite answers CORS for any origin (the page reads and writes the table), and the Scheduler
 * emulator reads a text/plain body as JSON (a form-like POST, no preflight, creates a schedule). A browser sends
 * Origin on every such request and on the preflight before it; AWS SDKs never do.
 */
export function refusingWebPages(listener: http.RequestListener): http.RequestListener {
  return (req, res) => {
    if (req.headers.origin === undefined) return listener(req, res);
    req.resume();
    res.writeHead(403, { "content-type": "application/json" }).end(
      JSON.stringify({
        __type: "AccessDeniedException",
        message: "the local emulators do not answer web pages",
      }),
    );
  };
}
