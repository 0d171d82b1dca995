/**
 * A rotation-safe file tail. Survives rename rotation (the old file is drained, and read for
 * `rotateWaitMs` more in case the writer still appends to it), copytruncate (truncation is seen by
 * size or by a fingerprint of the bytes before our offset, and the rest of the old content is read
 * from the rotated copy when one matches), plain truncation, delete and recreate, symlink
 * retargeting, and files or directories that do not exist yet. inotify (fs.watch) wakes it; a
 * stat poll is the fallback. One pump runs at a time; there is no timer per line or per IP.
 *
 * Positions (file identity dev:ino + byte offset of the last complete line) are handed to the
 * caller with each batch so a restart neither skips nor re-reads.
 */
import { type FSWatcher, watch } from 'node:fs';
import { type FileHandle, open, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Position } from '../storage/types.ts';
import { LineSplitter } from './line-splitter.ts';

export interface FileTailOptions {
  readonly path: string;
  /** Where to start when no position is known: `end` (default, like tail -f) or `start`. */
  readonly from?: 'start' | 'end';
  /** A stored position to resume from. */
  readonly position?: Position;
  /**
   * Receives complete lines in order. `position` is where to resume after them, or undefined for
   * lines drained from a rotated-away file (the current file's position is what persists).
   */
  onLines(lines: string[], position: Position | undefined): void | Promise<void>;
  /** Problems that do not stop the tail (unreadable, a directory, …): reported, then retried. */
  onProblem?(message: string): void;
  readonly pollMs?: number;
  readonly rotateWaitMs?: number;
  readonly maxLineBytes?: number;
  readonly readChunkBytes?: number;
  /** Milliseconds clock for rotate-wait bookkeeping. */
  readonly now?: () => number;
}

export interface TailStats {
  lines: number;
  oversized: number;
  rotations: number;
  truncations: number;
  /** Bytes recovered from a rotated copy after copytruncate. */
  recoveredBytes: number;
}

export interface FileTail {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Runs one pump now and resolves when it is done (tests, replay). */
  poll(): Promise<void>;
  readonly stats: TailStats;
}

interface OpenFile {
  readonly handle: FileHandle;
  readonly id: string;
  offset: number;
  readonly splitter: LineSplitter;
  /** The last bytes read before `offset`, to recognise a truncated-and-rewritten file. */
  tail: Buffer;
  lastGrowthMs: number;
}

const FINGERPRINT_BYTES = 64;

export function createFileTail(options: FileTailOptions): FileTail {
  const file = path.resolve(options.path);
  const dir = path.dirname(file);
  const pollMs = options.pollMs ?? 250;
  const rotateWaitMs = options.rotateWaitMs ?? 5000;
  const chunkBytes = options.readChunkBytes ?? 1024 * 1024;
  const now = options.now ?? Date.now;
  const stats: TailStats = { lines: 0, oversized: 0, rotations: 0, truncations: 0, recoveredBytes: 0 };
  const buffer = Buffer.allocUnsafe(chunkBytes);
  const reported = new Set<string>();

  let current: OpenFile | undefined;
  const draining: OpenFile[] = [];
  let firstOpen = true;
  let running: Promise<void> | undefined;
  let again = false;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let watcher: FSWatcher | undefined;

  const problem = (message: string) => {
    if (reported.has(message)) return;
    reported.add(message);
    options.onProblem?.(message);
  };

  const newSplitter = () => new LineSplitter(options.maxLineBytes);

  async function openFile(target: string, id: string, offset: number): Promise<OpenFile> {
    const handle = await open(target, 'r');
    const opened: OpenFile = {
      handle,
      id,
      offset,
      splitter: newSplitter(),
      tail: Buffer.alloc(0),
      lastGrowthMs: now(),
    };
    if (offset > 0)
      opened.tail = await readAt(
        handle,
        Math.max(0, offset - FINGERPRINT_BYTES),
        Math.min(offset, FINGERPRINT_BYTES),
      );
    return opened;
  }

  async function deliver(lines: string[], from: OpenFile, isCurrent: boolean): Promise<void> {
    if (lines.length === 0) return;
    stats.lines += lines.length;
    await options.onLines(
      lines,
      isCurrent ? { fileId: from.id, offset: from.offset - from.splitter.pendingBytes } : undefined,
    );
  }

  /** Reads everything available from `target` and delivers it. Returns bytes read. */
  async function drain(target: OpenFile, isCurrent: boolean): Promise<number> {
    let total = 0;
    for (;;) {
      const { bytesRead } = await target.handle.read(buffer, 0, chunkBytes, target.offset);
      if (bytesRead === 0) break;
      const chunk = buffer.subarray(0, bytesRead);
      target.offset += bytesRead;
      total += bytesRead;
      target.tail = Buffer.from(chunk.subarray(Math.max(0, bytesRead - FINGERPRINT_BYTES)));
      const before = target.splitter.stats.oversized;
      const lines = target.splitter.push(chunk);
      stats.oversized += target.splitter.stats.oversized - before;
      await deliver(lines, target, isCurrent);
    }
    if (total > 0) target.lastGrowthMs = now();
    return total;
  }

  async function retire(old: OpenFile): Promise<void> {
    await deliver(old.splitter.flush(), old, false);
    await old.handle.close().catch(() => {});
  }

  /** After copytruncate: finds the rotated copy whose bytes before our offset match, reads the rest. */
  async function recoverFromCopy(old: OpenFile): Promise<void> {
    if (old.offset === 0 || old.tail.length === 0) return;
    const base = path.basename(file);
    const names = (await readdir(dir).catch(() => [] as string[])).filter(
      (n) => n !== base && n.startsWith(base),
    );
    for (const name of names.slice(0, 32)) {
      const candidate = path.join(dir, name);
      const info = await stat(candidate).catch(() => undefined);
      if (!info?.isFile() || info.size < old.offset) continue;
      let handle: FileHandle | undefined;
      try {
        handle = await open(candidate, 'r');
        const seen = await readAt(handle, old.offset - old.tail.length, old.tail.length);
        if (!seen.equals(old.tail)) continue;
        const copy: OpenFile = { ...old, handle, splitter: old.splitter };
        stats.recoveredBytes += await drain(copy, false);
        old.offset = copy.offset;
        return;
      } finally {
        await handle?.close().catch(() => {});
      }
    }
  }

  async function pumpOnce(): Promise<void> {
    for (const old of [...draining]) {
      await drain(old, false);
      if (now() - old.lastGrowthMs >= rotateWaitMs) {
        draining.splice(draining.indexOf(old), 1);
        await retire(old);
      }
    }

    let info: Awaited<ReturnType<typeof stat>>;
    try {
      info = await stat(file);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') problem(`${file}: ${code ?? String(error)}`);
      if (current) {
        // Deleted or renamed away with nothing new in its place yet: keep reading it for a while.
        draining.push(current);
        current = undefined;
        stats.rotations++;
      }
      return;
    }
    if (!info.isFile()) {
      problem(`${file} is not a regular file (a directory?)`);
      return;
    }
    const id = `${info.dev}:${info.ino}`;

    if (current && current.id !== id) {
      await drain(current, false);
      draining.push(current);
      current = undefined;
      stats.rotations++;
    }

    if (!current) {
      let offset = 0;
      const stored = options.position;
      if (firstOpen) {
        if (stored && stored.fileId === id && info.size >= stored.offset) offset = stored.offset;
        else if (stored && stored.fileId !== id) await resumeRotatedAway(stored);
        else if (!stored && options.from !== 'start') offset = info.size;
      }
      try {
        current = await openFile(file, id, offset);
      } catch (error) {
        problem(`${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
        return;
      }
      firstOpen = false;
    } else if (info.size < current.offset || !(await fingerprintHolds(current))) {
      // Truncated (copytruncate or by hand): first the rest of the old content from the copy, if any.
      stats.truncations++;
      await recoverFromCopy(current);
      await deliver(current.splitter.flush(), current, true);
      current.offset = 0;
      current.tail = Buffer.alloc(0);
    }
    await drain(current, true);
  }

  /** At start-up the stored file was rotated away while moat was down: finish it first. */
  async function resumeRotatedAway(stored: Position): Promise<void> {
    const base = path.basename(file);
    const names = (await readdir(dir).catch(() => [] as string[])).filter(
      (n) => n !== base && n.startsWith(base),
    );
    for (const name of names) {
      const candidate = path.join(dir, name);
      const info = await stat(candidate).catch(() => undefined);
      if (!info?.isFile() || `${info.dev}:${info.ino}` !== stored.fileId || info.size < stored.offset)
        continue;
      const old = await openFile(candidate, stored.fileId, stored.offset);
      await drain(old, false);
      await retire(old);
      return;
    }
  }

  async function fingerprintHolds(target: OpenFile): Promise<boolean> {
    if (target.tail.length === 0) return true;
    const seen = await readAt(target.handle, target.offset - target.tail.length, target.tail.length);
    return seen.equals(target.tail);
  }

  function schedule(): Promise<void> {
    if (stopped) return Promise.resolve();
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      try {
        do {
          again = false;
          await pumpOnce();
        } while (again && !stopped);
      } catch (error) {
        problem(`${file}: ${String(error)}`);
      } finally {
        running = undefined;
      }
    })();
    return running;
  }

  function ensureWatcher(): void {
    if (watcher) return;
    try {
      watcher = watch(dir, { persistent: false }, () => void schedule());
      watcher.on('error', () => {
        watcher?.close();
        watcher = undefined;
      });
    } catch {
      watcher = undefined; // the directory does not exist yet: the poll keeps trying
    }
  }

  return {
    stats,
    async start() {
      stopped = false;
      ensureWatcher();
      await schedule();
      timer = setInterval(() => {
        ensureWatcher();
        void schedule();
      }, pollMs);
      timer.unref();
    },
    async stop() {
      stopped = true;
      if (timer) clearInterval(timer);
      watcher?.close();
      watcher = undefined;
      await running;
      for (const old of draining.splice(0)) await old.handle.close().catch(() => {});
      await current?.handle.close().catch(() => {});
      current = undefined;
    },
    poll: () => schedule(),
  };
}

async function readAt(handle: FileHandle, position: number, length: number): Promise<Buffer> {
  const out = Buffer.alloc(length);
  const { bytesRead } = await handle.read(out, 0, length, position);
  return out.subarray(0, bytesRead);
}
