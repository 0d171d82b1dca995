/**
 * journald source: `journalctl -f -o json` (optionally for one unit or syslog identifier), resuming
 * after a persisted cursor. Each entry becomes one syslog-style line with an RFC 3339 timestamp —
 * `2026-11-23T10:00:00.123456+00:00 host sshd[123]: message` — so the same parsers read auth.log and
 * the journal. Entries whose MESSAGE is not text (journald stores binary messages as byte arrays) are
 * decoded as UTF-8 with replacement characters.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Position } from '../storage/types.ts';

export interface JournaldOptions {
  readonly unit?: string;
  readonly identifier?: string;
  /** The stored position; its `cursor` is passed as --after-cursor. */
  readonly position?: Position;
  onLines(lines: string[], position: Position): void | Promise<void>;
  onProblem?(message: string): void;
  /** The journalctl binary (tests point it elsewhere). */
  readonly command?: string;
}

export interface JournaldSource {
  start(): Promise<void>;
  stop(): Promise<void>;
  readonly stats: { entries: number; malformed: number };
}

interface JournalEntry {
  MESSAGE?: string | number[] | null;
  __CURSOR?: string;
  __REALTIME_TIMESTAMP?: string;
  _HOSTNAME?: string;
  SYSLOG_IDENTIFIER?: string;
  _COMM?: string;
  _PID?: string;
  SYSLOG_PID?: string;
}

/** Turns one `journalctl -o json` line into a syslog-style line and its cursor. */
export function journalLine(json: string): { line: string; cursor: string | undefined } | undefined {
  let entry: JournalEntry;
  try {
    entry = JSON.parse(json) as JournalEntry;
  } catch {
    return undefined;
  }
  if (entry === null || typeof entry !== 'object') return undefined;
  const message = Array.isArray(entry.MESSAGE)
    ? Buffer.from(entry.MESSAGE.filter((n) => Number.isInteger(n))).toString('utf8')
    : typeof entry.MESSAGE === 'string'
      ? entry.MESSAGE
      : undefined;
  if (message === undefined) return undefined;
  const micros = Number(entry.__REALTIME_TIMESTAMP);
  const time = Number.isFinite(micros)
    ? new Date(Math.floor(micros / 1000)).toISOString()
    : new Date(0).toISOString();
  const ident = entry.SYSLOG_IDENTIFIER ?? entry._COMM ?? 'unknown';
  const pid = entry._PID ?? entry.SYSLOG_PID;
  return {
    line: `${time} ${entry._HOSTNAME ?? 'localhost'} ${ident}${pid ? `[${pid}]` : ''}: ${message.replace(/\n/g, ' ')}`,
    cursor: entry.__CURSOR,
  };
}

export function createJournaldSource(options: JournaldOptions): JournaldSource {
  const stats = { entries: 0, malformed: 0 };
  let child: ChildProcess | undefined;
  let cursor = options.position?.cursor;
  let stopping = false;
  let queue: Promise<void> = Promise.resolve();

  const args = ['-f', '-o', 'json', '--no-pager'];
  if (options.unit) args.push('-u', options.unit);
  if (options.identifier) args.push('-t', options.identifier);
  if (cursor) args.push(`--after-cursor=${cursor}`);
  else args.push('-n', '0');

  return {
    stats,
    async start() {
      stopping = false;
      child = spawn(options.command ?? 'journalctl', args, { stdio: ['ignore', 'pipe', 'pipe'] });
      child.on('error', (error) => options.onProblem?.(`journalctl: ${error.message}`));
      child.on('exit', (code) => {
        if (!stopping) options.onProblem?.(`journalctl exited (${code ?? 'signal'})`);
      });
      child.stderr?.on('data', (chunk: Buffer) =>
        options.onProblem?.(`journalctl: ${chunk.toString('utf8').trim()}`),
      );
      const reader = createInterface({ input: child.stdout!, crlfDelay: Number.POSITIVE_INFINITY });
      reader.on('line', (json) => {
        const parsed = journalLine(json);
        if (!parsed) {
          stats.malformed++;
          return;
        }
        stats.entries++;
        if (parsed.cursor) cursor = parsed.cursor;
        const position: Position = {
          fileId: 'journal',
          offset: stats.entries,
          ...(cursor ? { cursor } : {}),
        };
        queue = queue.then(() => options.onLines([parsed.line], position));
      });
    },
    async stop() {
      stopping = true;
      child?.kill('SIGTERM');
      await queue;
    },
  };
}
