/** Runs a system command with an argument array (never a shell string); failures become coded errors. */
import { spawn } from 'node:child_process';
import { MoatError } from '../core/errors.ts';

export interface RunOptions {
  /** Written to the command's stdin (e.g. an `nft -f -` batch). */
  readonly input?: string;
  readonly timeoutMs?: number;
}

/** How a backend runs its commands; unit tests pass a recorder to see the argument arrays. */
export type Runner = (command: string, args: readonly string[], input?: string) => Promise<string>;

export function runCommand(
  command: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, [...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: options.timeoutMs ?? 30_000,
      env: { ...process.env, LC_ALL: 'C' },
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    child.on('error', (error) => {
      reject(new MoatError('MOAT_COMMAND_FAILED', `${command}: ${error.message}`, { cause: error }));
    });
    child.on('close', (code, signal) => {
      if (code === 0) return resolve(Buffer.concat(out).toString('utf8'));
      const stderr = Buffer.concat(err).toString('utf8').trim().split('\n').slice(0, 5).join('\n');
      reject(
        new MoatError(
          'MOAT_COMMAND_FAILED',
          `${command} ${args.slice(0, 4).join(' ')}${args.length > 4 ? ' …' : ''} failed (${signal ?? `exit ${code}`}): ${stderr}`,
        ),
      );
    });
    child.stdin.on('error', () => {}); // a command that exits early closes its stdin; the exit code tells.
    child.stdin.end(options.input ?? '');
  });
}
