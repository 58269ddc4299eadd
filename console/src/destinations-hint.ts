import type { DestinationPage } from "./answers.js";

/**
 * The destinations panel's line under its table. GET /v1/destinations is a paged list in topic and host order:
 * a page with a `next_cursor` says more rows follow (an open circuit may be among them), so the line points to the
 * next page and to the open-only view; an empty first page says there is nothing (of that filter) at all.
 */
export function destinationsHint(
  list: DestinationPage,
  view: { readonly openOnly: boolean; readonly firstPage: boolean },
): string | undefined {
  if (list.next_cursor !== null) {
    return view.openOnly
      ? "The list goes on: the next page may hold more open circuits."
      : 'More destinations follow on the next page; "open circuits only" lists every circuit that holds deliveries back.';
  }
  if (list.destinations.length === 0 && view.firstPage) {
    return view.openOnly ? "No circuit is open." : "No callback host has a circuit yet.";
  }
  return undefined;
}
