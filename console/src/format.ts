export function age(seconds: number): string {
  if (seconds < 60) return `${Math.round(seconds)} s`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

export function ms(value: number | null | undefined): string {
  if (value === null || value === undefined) return "—";
  return value < 1000 ? `${Math.round(value)} ms` : `${(value / 1000).toFixed(2)} s`;
}

export function time(iso: string | undefined): string {
  return iso ? new Date(iso).toLocaleString() : "—";
}

/**
 * A value a client or a receiver chose, and a task's content, as the page shows them: the hidden characters as
 * escapes, by the rule the CLI uses too (shared/domain/visible-text.ts). Preact sets them as text, never as markup.
 */
export { visible, visibleJson } from "../../shared/domain/visible-text.js";
