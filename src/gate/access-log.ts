/**
 * The gate's optional access log, in nginx's predefined `combined` format so that every tool that
 * reads nginx logs (moat watch among them) reads it too:
 *
 *   $remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"
 *
 * Lines are buffered and written in batches (at most every 200 ms, sooner past 64 KiB). The file is
 * reopened on `reopen()` (SIGHUP, after logrotate) and by itself when it was moved or deleted.
 * A stalled disk never grows memory without bound: past 16 MiB of pending lines, lines are dropped
 * and counted.
 */
import { type FileHandle, open, stat } from 'node:fs/promises';

export interface AccessRecord {
  readonly ip: string;
  readonly user?: string | undefined;
  readonly timeMs: number;
  readonly method: string;
  readonly url: string;
  readonly httpVersion: string;
  readonly status: number;
  readonly bytes: number;
  readonly referer?: string | undefined;
  readonly userAgent?: string | undefined;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const two = (n: number) => (n < 10 ? `0${n}` : String(n));

/** nginx's `$time_local`: `23/Nov/2026:14:05:09 +0100`, in the process's time zone. */
export function timeLocal(ms: number): string {
  const d = new Date(ms);
  const offset = -d.getTimezoneOffset();
  const sign = offset < 0 ? '-' : '+';
  const abs = Math.abs(offset);
  return (
    `${two(d.getDate())}/${MONTHS[d.getMonth()]}/${d.getFullYear()}:` +
    `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())} ` +
    `${sign}${two(Math.floor(abs / 60))}${two(abs % 60)}`
  );
}

/**
 * nginx's default log escaping: `"`, `\`, control characters and bytes from 0x7F up as `\xHH`.
 * Node reads request heads as latin1, so every character here is one byte of the request.
 */
export function escapeLogValue(value: string): string {
  let i = 0;
  for (; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x20 || c >= 0x7f || c === 0x22 || c === 0x5c) break;
  }
  if (i === value.length) return value;
  let out = value.slice(0, i);
  for (; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x20 || c >= 0x7f || c === 0x22 || c === 0x5c) {
      out += `\\x${(c & 0xff).toString(16).toUpperCase().padStart(2, '0')}`;
    } else {
      out += value[i];
    }
  }
  return out;
}

const dash = (value: string | undefined) => (value === undefined ? '-' : escapeLogValue(value));

/** One line in `combined` format, with its newline. */
export function formatCombined(record: AccessRecord): string {
  const request = `${record.method} ${record.url} HTTP/${record.httpVersion}`;
  return (
    `${record.ip} - ${record.user === undefined || record.user === '' ? '-' : escapeLogValue(record.user)} ` +
    `[${timeLocal(record.timeMs)}] "${escapeLogValue(request)}" ${record.status} ${record.bytes} ` +
    `"${dash(record.referer)}" "${dash(record.userAgent)}"\n`
  );
}

export interface AccessLog {
  write(record: AccessRecord): void;
  /** Reopens the file by its path (after rotation). */
  reopen(): Promise<void>;
  /** Writes what is pending and closes the file. */
  close(): Promise<void>;
  /** Lines dropped because the disk did not keep up. */
  readonly dropped: number;
}

const FLUSH_MS = 200;
const FLUSH_BYTES = 64 * 1024;
const MAX_PENDING_BYTES = 16 * 1024 * 1024;
const ROTATION_CHECK_MS = 1000;

/** Opens (creates, appends to) the log file. Rejects when it cannot be opened. */
export async function openAccessLog(filePath: string, onError: (error: unknown) => void): Promise<AccessLog> {
  let handle: FileHandle = await open(filePath, 'a', 0o640);
  let pending: string[] = [];
  let pendingBytes = 0;
  let dropped = 0;
  let chain: Promise<void> = Promise.resolve();
  let lastRotationCheck = Date.now();
  let closed = false;

  const flush = (): Promise<void> => {
    if (pending.length === 0) return chain;
    const text = pending.join('');
    pending = [];
    pendingBytes = 0;
    chain = chain.then(async () => {
      try {
        await handle.write(text);
      } catch (error) {
        onError(error);
      }
    });
    return chain;
  };

  const swapFile = async (): Promise<void> => {
    try {
      const next = await open(filePath, 'a', 0o640);
      const previous = handle;
      handle = next;
      await previous.close();
    } catch (error) {
      onError(error);
    }
  };

  /** True when the path no longer names the open file (moved away by logrotate, or deleted). */
  const rotated = async (): Promise<boolean> => {
    try {
      const [onDisk, current] = await Promise.all([stat(filePath), handle.stat()]);
      return onDisk.ino !== current.ino || onDisk.dev !== current.dev;
    } catch {
      return true;
    }
  };

  const timer = setInterval(() => {
    void flush();
    const now = Date.now();
    if (now - lastRotationCheck >= ROTATION_CHECK_MS) {
      lastRotationCheck = now;
      chain = chain.then(async () => {
        if (!closed && (await rotated())) await swapFile();
      });
    }
  }, FLUSH_MS);
  timer.unref();

  return {
    get dropped() {
      return dropped;
    },
    write(record) {
      if (closed) return;
      const line = formatCombined(record);
      if (pendingBytes > MAX_PENDING_BYTES) {
        dropped++;
        return;
      }
      pending.push(line);
      pendingBytes += line.length;
      if (pendingBytes >= FLUSH_BYTES) void flush();
    },
    reopen() {
      void flush();
      chain = chain.then(swapFile);
      return chain;
    },
    async close() {
      if (closed) return;
      clearInterval(timer);
      await flush();
      closed = true;
      await chain;
      await handle.close();
    },
  };
}
