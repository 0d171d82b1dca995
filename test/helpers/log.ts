/** A Logger that keeps what it is given, for tests that read a component's log. */
import type { Logger } from '../../src/daemon/log.ts';

export interface LogLine {
  readonly level: string;
  readonly msg: string;
  readonly [key: string]: unknown;
}

export function captureLogger(): Logger & { lines: LogLine[] } {
  const lines: LogLine[] = [];
  return { lines, log: (level, msg, fields) => lines.push({ ...fields, level, msg }) };
}
