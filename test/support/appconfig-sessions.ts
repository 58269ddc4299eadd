import http from "node:http";
import type { AddressInfo } from "node:net";

/**
 * AppConfig Data on loopback, strict about its tokens as AWS documents them: "Each configuration token is only
 * valid for one call to GetLatestConfiguration" (https://docs.aws.amazon.com/appconfig/2021-11-11/APIReference/API_appconfigdata_GetLatestConfiguration.html),
 * so a token used once is refused with BadRequestException (as the local emulator does too). What it adds is the
 * lost answer: `loseNextAnswer()` makes the next poll consume its token and then drop the connection without an
 * answer; `holdNextAnswer()`, consume it and never answer (the connection is closed at `stop`).
 */
export interface AppConfigSessions {
  readonly url: string;
  /** The document every poll answers (a new version when it changes). */
  document: string;
  loseNextAnswer(): void;
  holdNextAnswer(): void;
  /** Answers the poll held by `holdNextAnswer` now (late), with the document as it is now. */
  answerHeld(): void;
  /** StartConfigurationSession calls so far. */
  readonly sessions: number;
  stop(): Promise<void>;
}

export async function startAppConfigSessions(document: string): Promise<AppConfigSessions> {
  const used = new Set<string>();
  const seen = new Map<string, string>();
  let tokens = 0;
  let lose: "drop" | "hold" | undefined;
  let held: (() => void) | undefined;
  const state = {
    document,
    sessions: 0,
  };
  const next = (session: string) => `${session}.${++tokens}`;
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    req.resume();
    req.on("end", () => {
      if (req.method === "POST" && url.pathname === "/configurationsessions") {
        state.sessions++;
        const session = `s${state.sessions}`;
        res.writeHead(201, { "content-type": "application/json" });
        res.end(JSON.stringify({ InitialConfigurationToken: next(session) }));
        return;
      }
      const token = url.searchParams.get("configuration_token") ?? "";
      if (used.has(token) || !token.includes(".")) {
        res.writeHead(400, { "content-type": "application/json", "x-amzn-errortype": "BadRequestException" });
        res.end(JSON.stringify({ Message: "Invalid configuration token" }));
        return;
      }
      used.add(token);
      const answer = () => {
        const session = token.slice(0, token.indexOf("."));
        const fresh = seen.get(session) !== state.document;
        seen.set(session, state.document);
        res.writeHead(200, {
          "next-poll-configuration-token": next(session),
          "next-poll-interval-in-seconds": "15",
          "content-type": "application/json",
        });
        res.end(fresh ? state.document : undefined);
      };
      if (lose) {
        if (lose === "drop") res.destroy();
        else held = answer;
        lose = undefined;
        return;
      }
      answer();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(state, {
    url: `http://127.0.0.1:${port}`,
    loseNextAnswer: () => {
      lose = "drop";
    },
    holdNextAnswer: () => {
      lose = "hold";
    },
    answerHeld: () => {
      held?.();
      held = undefined;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
}
