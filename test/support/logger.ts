import type { ServiceLogger } from "#shared/runtime/observability.js";

export interface LogEntry {
  level: string;
  message: string;
  extra?: Record<string, unknown>;
}

/** A service logger that keeps every entry, so a spec can assert what was logged (and that nothing leaked). */
export function memoryLogger(): ServiceLogger & { entries: LogEntry[] } {
  const entries: LogEntry[] = [];
  const at =
    (level: string) =>
    (message: string, ...extra: Record<string, unknown>[]): void => {
      entries.push({ level, message, ...(extra.length > 0 ? { extra: Object.assign({}, ...extra) } : {}) });
    };
  return { entries, debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}
