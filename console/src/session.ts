/**
 * `punctual console`'s call secret (console/session-token.ts): its redirect puts it in the URL's fragment; the page
 * keeps it in this origin's storage, which no page of another port of this host can read (unlike the session cookie,
 * which the browser sends to every port), strips it from the address, and sends it on every call (api.ts). The
 * local API server (`npm start`) gives none, and needs none.
 */
const STORAGE_KEY = "punctual_console_session";
/** console/session-token.ts's SESSION_FRAGMENT and SESSION_HEADER (the page may not import Node modules). */
const FRAGMENT_PARAMETER = "session";
const HEADER = "x-punctual-session";

let held: string | undefined;

/** What of `window` this reads (api.ts, which imports this module, is also run by Node's unit tests). */
export interface SessionWindow {
  readonly location: { readonly hash: string; readonly pathname: string; readonly search: string };
  readonly history: {
    readonly state: unknown;
    replaceState(data: unknown, unused: string, url: string): void;
  };
  readonly localStorage: { getItem(key: string): string | null; setItem(key: string, value: string): void };
}

/** At the page's start: the fragment's secret when the redirect brought one (then kept), else the one kept. */
export function adoptSession(page: SessionWindow): void {
  const { location, history } = page;
  const brought = new URLSearchParams(location.hash.slice(1)).get(FRAGMENT_PARAMETER);
  if (brought) {
    held = brought;
    // Storage refused (a locked-down profile): this tab still holds it; a new tab needs the printed URL again.
    try {
      page.localStorage.setItem(STORAGE_KEY, brought);
    } catch {}
    history.replaceState(history.state, "", `${location.pathname}${location.search}`);
    return;
  }
  try {
    held = page.localStorage.getItem(STORAGE_KEY) ?? undefined;
  } catch {
    held = undefined;
  }
}

/** The header every call carries; none where the page was given no secret. */
export function sessionHeaders(): Record<string, string> {
  return held ? { [HEADER]: held } : {};
}
