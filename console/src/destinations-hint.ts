import type { DestinationList } from "../../shared/api/schemas/destinations.js";

/**
 * The destinations panel's line under its table. GET /v1/destinations is one answer of at most about 4 MB, open
 * circuits first: when it says `truncated`, closed circuits were left out, so a host missing from the table may
 * still have one (the CLI says the same on stderr).
 */
export function destinationsHint(list: DestinationList): string | undefined {
  if (list.truncated)
    return "More destinations exist than one answer holds: closed ones were left out (open and half-open circuits are all shown).";
  if (list.destinations.length === 0) return "No callback host has a circuit yet.";
  return undefined;
}
