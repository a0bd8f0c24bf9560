/**
 * The logging interface injected into every module that logs. Modules never write to the console
 * themselves; the process entry point decides where lines go and at which level.
 */
export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** A logger that drops everything: the default wherever none is injected. */
export const noopLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
};

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

const levelRank: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/**
 * A logger that keeps lines at or above `level` by handing them to `sink` with their level.
 * Used by tests (to capture a trace) and by entry points (to print).
 */
export function levelLogger(level: LogLevel, sink: (level: LogLevel, message: string) => void): Logger {
  const min = levelRank[level];
  const at = (l: LogLevel) => (levelRank[l] >= min ? (m: string) => sink(l, m) : () => {});
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}
