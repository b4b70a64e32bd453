// The logging surface the bridge uses: a subset of pino's, so a pino logger fits as is.

export interface BridgeLogger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}
