// pino JSON logs on stdout. Every line carries the node id; the node adds term and role through
// `mixin` so that each line says which Raft state it was written in.

import { pino, type Logger } from 'pino';

export type { Logger };

export interface RaftLogContext {
  term: number;
  role: string;
}

export function createLogger(opts: {
  level: string;
  nodeId?: string;
  raftContext?: () => RaftLogContext | null;
  /** Pretty, human-readable lines (used when stdout is a terminal). */
  pretty?: boolean;
}): Logger {
  const base = opts.nodeId ? { node: opts.nodeId } : {};
  const mixin = opts.raftContext ? () => opts.raftContext!() ?? {} : undefined;
  if (opts.pretty) {
    return pino({
      level: opts.level,
      base,
      ...(mixin ? { mixin } : {}),
      transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } },
    });
  }
  return pino({ level: opts.level, base, ...(mixin ? { mixin } : {}) });
}
