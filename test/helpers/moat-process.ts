/**
 * `node bin/moat.js …` as a child process, the way a user runs it: its JSON log lines on stdout are
 * read as they come; stop() sends SIGTERM (SIGKILL after 3 s) and resolves with the exit code.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import path from 'node:path';
import { until } from './until.ts';

const root = path.resolve(import.meta.dirname, '../..');

export type LogRecord = Record<string, unknown>;

export interface MoatProcess {
  readonly child: ChildProcessWithoutNullStreams;
  stdout(): string;
  stderr(): string;
  /** The JSON log lines written so far; with `msg`, only those with that message. */
  logs(msg?: string): LogRecord[];
  /** The first log line with `msg`, once written; fails (with stderr) if the process exits first. */
  waitFor(msg: string, timeoutMs?: number): Promise<LogRecord>;
  /** The exit code (null when a signal ended it), once the output is read to the end. */
  readonly exited: Promise<number | null>;
  /** SIGTERM, then SIGKILL if it has not exited within 3 s; the exit code. */
  stop(): Promise<number | null>;
}

export function spawnMoat(args: readonly string[], options: { env?: NodeJS.ProcessEnv } = {}): MoatProcess {
  const child = spawn(process.execPath, [path.join(root, 'bin/moat.js'), ...args], {
    cwd: root,
    stdio: 'pipe',
    ...(options.env === undefined ? {} : { env: options.env }),
  });
  child.stdin.end();
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk));
  // 'close', not 'exit': by then stdout and stderr are read to the end.
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const logs = (msg?: string) =>
    stdout
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as LogRecord)
      .filter((line) => msg === undefined || line['msg'] === msg);
  const running = () => child.exitCode === null && child.signalCode === null;
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    logs,
    async waitFor(msg, timeoutMs = 15_000) {
      await until(() => logs(msg).length > 0 || !running(), `"${msg}"`, timeoutMs);
      const [line] = logs(msg);
      if (line === undefined) throw new Error(`moat ${args.join(' ')} exited before "${msg}": ${stderr}`);
      return line;
    },
    exited,
    async stop() {
      if (running()) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
        await exited;
        clearTimeout(timer);
      }
      return exited;
    },
  };
}

/** `moat gate` with these arguments, once it listens: the process, and the port it listens on. */
export async function startMoatGate(
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv } = {},
): Promise<MoatProcess & { readonly port: number }> {
  const gate = spawnMoat(args, options);
  try {
    const listening = await gate.waitFor('gate listening');
    return { ...gate, port: Number(listening['port']) };
  } catch (error) {
    await gate.stop();
    throw error;
  }
}
