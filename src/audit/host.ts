/**
 * Host: the only way audit collectors touch the machine. Paths are host paths (`/etc/redis/redis.conf`);
 * with --root every read happens under that root and no command is ever run.
 *
 * Contract: reads never throw. An absent file is `undefined`; a file that exists but cannot be read
 * is `undefined` too and is recorded in `problems`, which the audit reports under `skipped`.
 */
import { execFile } from 'node:child_process';
import { open, readdir, readFile, readlink, stat } from 'node:fs/promises';
import path from 'node:path';

export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface HostProblem {
  readonly path: string;
  readonly reason: string;
}

export interface Host {
  /** `/` for the live host, else the --root directory. */
  readonly root: string;
  /** True only when auditing the machine moat runs on: commands and /proc/<pid> are used. */
  readonly live: boolean;
  /** Files that exist but could not be read, with why. */
  readonly problems: readonly HostProblem[];
  /** Text of a regular file, or undefined when absent/unreadable/not a file/over maxBytes. */
  readText(hostPath: string, maxBytes?: number): Promise<string | undefined>;
  /** The first `bytes` bytes of a regular file (for magic numbers like `REDIS0`). */
  readHead(hostPath: string, bytes: number): Promise<Buffer | undefined>;
  /** Sorted entry names of a directory, or undefined when it is absent or unreadable. */
  list(hostPath: string): Promise<string[] | undefined>;
  isFile(hostPath: string): Promise<boolean>;
  isDirectory(hostPath: string): Promise<boolean>;
  /** Target of a symlink (as stored), or undefined. */
  readLink(hostPath: string): Promise<string | undefined>;
  /**
   * Runs a command (argument array, no shell) on the live host. Undefined when not live, when the
   * command is not installed, or when it timed out; a non-zero exit is returned, not thrown.
   */
  run(command: string, args: readonly string[]): Promise<CommandResult | undefined>;
}

const DEFAULT_MAX_BYTES = 8 * 1024 * 1024;

export interface HostOptions {
  readonly root?: string;
  readonly commandTimeoutMs?: number;
}

export function createHost(options: HostOptions = {}): Host {
  const root = path.resolve(options.root ?? '/');
  const live = options.root === undefined;
  const timeoutMs = options.commandTimeoutMs ?? 3000;
  const problems: HostProblem[] = [];
  const real = (hostPath: string) => (live ? hostPath : path.join(root, path.resolve('/', hostPath)));
  /**
   * Under --root, symlinks in the copied tree are resolved inside the root: an absolute link like
   * /etc/nginx/sites-enabled/app -> /etc/nginx/sites-available/app must read the copy, never the
   * auditing machine's own file.
   */
  const resolveUnderRoot = async (hostPath: string): Promise<string> => {
    if (live) return hostPath;
    const parts = path.resolve('/', hostPath).split('/').filter(Boolean);
    let resolved = '/';
    for (let hops = 0; parts.length > 0;) {
      const part = parts.shift()!;
      const candidate = path.posix.join(resolved, part);
      let target: string | undefined;
      try {
        target = await readlink(path.join(root, candidate));
      } catch {
        target = undefined; // not a link (or absent): keep the name
      }
      if (target === undefined) {
        resolved = candidate;
        continue;
      }
      if (++hops > 40) throw Object.assign(new Error('too many symlinks'), { code: 'ELOOP' });
      const next = path.posix.isAbsolute(target) ? target : path.posix.join(resolved, target);
      parts.unshift(...next.split('/').filter(Boolean));
      resolved = '/';
    }
    return path.join(root, resolved);
  };
  const note = (hostPath: string, error: unknown) => {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return;
    problems.push({ path: hostPath, reason: code ?? String(error) });
  };

  return {
    root,
    live,
    problems,
    async readText(hostPath, maxBytes = DEFAULT_MAX_BYTES) {
      try {
        const file = await resolveUnderRoot(hostPath);
        const info = await stat(file);
        if (!info.isFile()) return undefined;
        if (info.size > maxBytes) {
          problems.push({ path: hostPath, reason: `larger than ${maxBytes} bytes` });
          return undefined;
        }
        return await readFile(file, 'utf8');
      } catch (error) {
        note(hostPath, error);
        return undefined;
      }
    },
    async readHead(hostPath, bytes) {
      let handle: Awaited<ReturnType<typeof open>> | undefined;
      try {
        handle = await open(await resolveUnderRoot(hostPath), 'r');
        if (!(await handle.stat()).isFile()) return undefined;
        const buffer = Buffer.alloc(bytes);
        const { bytesRead } = await handle.read(buffer, 0, bytes, 0);
        return buffer.subarray(0, bytesRead);
      } catch (error) {
        note(hostPath, error);
        return undefined;
      } finally {
        await handle?.close();
      }
    },
    async list(hostPath) {
      try {
        return (await readdir(await resolveUnderRoot(hostPath))).sort();
      } catch (error) {
        note(hostPath, error);
        return undefined;
      }
    },
    async isFile(hostPath) {
      try {
        return (await stat(await resolveUnderRoot(hostPath))).isFile();
      } catch {
        return false;
      }
    },
    async isDirectory(hostPath) {
      try {
        return (await stat(await resolveUnderRoot(hostPath))).isDirectory();
      } catch {
        return false;
      }
    },
    async readLink(hostPath) {
      try {
        return await readlink(real(hostPath));
      } catch {
        return undefined;
      }
    },
    run(command, args) {
      if (!live) return Promise.resolve(undefined);
      return new Promise((resolve) => {
        execFile(
          command,
          [...args],
          {
            timeout: timeoutMs,
            maxBuffer: 32 * 1024 * 1024,
            encoding: 'utf8',
            env: { ...process.env, LC_ALL: 'C' },
          },
          (error, stdout, stderr) => {
            if (error && (error.code === 'ENOENT' || error.killed)) return resolve(undefined);
            const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
            resolve({ code, stdout, stderr });
          },
        );
      });
    },
  };
}
