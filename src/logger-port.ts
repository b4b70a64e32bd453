// The logging surface every layer writes to: a subset of pino's, so a pino logger fits as is,
// without the layers importing pino (only src/logging.ts, which builds the real one, does).

export interface LoggerPort {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** For parts built without a logger (tests, tools). */
export const SILENT_LOGGER: LoggerPort = { debug() {}, info() {}, warn() {}, error() {} };
