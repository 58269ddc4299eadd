import { visible } from "../../shared/domain/visible-text.js";

/**
 * The group a search lists: the value exactly as typed, since a group value is any string and " A" and "A" are two
 * groups (an add keeps `"order_id": " A"` as it is); or, when asked, the group whose value is the empty string,
 * which an empty field cannot mean because an empty field is no search at all. Undefined: nothing to list.
 */
export function groupToList(typed: string, emptyGroup: boolean): string | undefined {
  if (emptyGroup) return "";
  return typed === "" ? undefined : typed;
}

/**
 * A group value as the page names it: between quotation marks, so its spaces, or that it is empty, are seen (the
 * page shows it with white space kept: console.css .group-value); hidden characters escaped.
 */
export function groupLabel(group: string): string {
  return `“${visible(group)}”`;
}
