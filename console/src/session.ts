/**
 * `punctual console`'s call secret (console/session-token.ts): its redirect puts it in the URL's fragment; the page
 * keeps it in this origin's storage, which no page of another port of this host can read or write, strips it from
 * the address, and sends it on every call (api.ts). The local API server (`npm start`) gives none, and needs none.
 */
const STORAGE_KEY = "punctual_console_session";
/** console/session-token.ts's SESSION_FRAGMENT, SESSION_HEADER and SESSION_CHECK_PATH (no Node modules here). */
const FRAGMENT_PARAMETER = "session";
const HEADER = "x-punctual-session";
const CHECK_PATH = "/console/api/session";

let held: string | undefined;

/** What of `window` this reads (api.ts, which imports this module, is also run by Node's unit tests). */
export interface SessionWindow {
  readonly location: { readonly hash: string; readonly pathname: string; readonly search: string };
  readonly history: {
    readonly state: unknown;
    replaceState(data: unknown, unused: string, url: string): void;
  };
  readonly localStorage: {
    getItem(key: string): string | null;
    setItem(key: string, value: string): void;
  };
  fetch(path: string, init: { headers: Record<string, string> }): Promise<{ status: number }>;
}

/**
 * At the page's start: the fragment's secret when the redirect brought one and the server takes it (then kept),
 * else the one kept. Why the check: a page of another port may send this tab here with a fragment of its making,
 * and kept, it would have replaced the holder's secret here and in every tab opened after (each call a 403 until
 * they opened the printed URL again). The fragment leaves the address at once either way.
 */
export async function adoptSession(page: SessionWindow): Promise<void> {
  const { location, history } = page;
  const brought = new URLSearchParams(location.hash.slice(1)).get(FRAGMENT_PARAMETER);
  if (brought) history.replaceState(history.state, "", `${location.pathname}${location.search}`);
  if (brought && (await serverTakes(page, brought))) {
    held = brought;
    // Storage refused (a locked-down profile): this tab still holds it; a new tab needs the printed URL again.
    try {
      page.localStorage.setItem(STORAGE_KEY, brought);
    } catch {}
    return;
  }
  try {
    held = page.localStorage.getItem(STORAGE_KEY) ?? undefined;
  } catch {
    held = undefined;
  }
}

/** The server's session check answers 204 to its own call secret; anything else (a 403, no answer) is a no. */
async function serverTakes(page: SessionWindow, secret: string): Promise<boolean> {
  try {
    const answer = await page.fetch(CHECK_PATH, {
      headers: { "x-punctual-console": "1", [HEADER]: secret },
    });
    return answer.status === 204;
  } catch {
    return false;
  }
}

/** The header every call carries; none where the page was given no secret. */
export function sessionHeaders(): Record<string, string> {
  return held ? { [HEADER]: held } : {};
}
