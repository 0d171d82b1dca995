/**
 * Real servers for the probe tests, each on a free loopback port: memcached and sshd.
 * .ci/run installs both.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from '../helpers/redis-server.ts';
import { unlessInCi } from '../helpers/requirement.ts';

export interface RunningServer {
  readonly host: string;
  readonly port: number;
  log(): string;
  stop(): Promise<void>;
}

const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

function launch(
  binary: string,
  args: readonly string[],
  cleanup: () => void,
): {
  child: ChildProcess;
  log: () => string;
  stop: () => Promise<void>;
} {
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      children.delete(child);
      cleanup();
      resolve();
    }),
  );
  return {
    child,
    log: () => output,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
        await exited;
        clearTimeout(timer);
      }
    },
  };
}

async function waitForPort(
  host: string,
  port: number,
  child: ChildProcess,
  timeoutMs = 5000,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && child.exitCode === null) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ host, port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return true;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return false;
}

export function memcachedMissing(): string | undefined {
  return unlessInCi(
    spawnSync('memcached', ['-h']).status === 0
      ? undefined
      : 'memcached is not installed (.ci/run installs it)',
  );
}

/** memcached on 127.0.0.1:<free port>, TCP and (with `udp`) UDP on the same port. */
export async function startMemcached(options: { udp: boolean }): Promise<RunningServer> {
  const host = '127.0.0.1';
  const port = await freePort(host);
  const args = [
    '-l',
    host,
    '-p',
    String(port),
    '-U',
    options.udp ? String(port) : '0',
    '-m',
    '16',
    '-c',
    '64',
  ];
  if (process.getuid?.() === 0) args.push('-u', 'nobody');
  const server = launch('memcached', args, () => {});
  if (!(await waitForPort(host, port, server.child))) {
    await server.stop();
    throw new Error(`memcached did not start:\n${server.log()}`);
  }
  return { host, port, log: server.log, stop: server.stop };
}

const SSHD = '/usr/sbin/sshd';

export function sshdMissing(): string | undefined {
  if (!existsSync(SSHD)) return unlessInCi('sshd is not installed (.ci/run installs it)');
  if (!existsSync('/run/sshd')) return unlessInCi('sshd needs /run/sshd (.ci/run makes it)');
  if (spawnSync('ssh-keygen', ['-?']).error) return unlessInCi('ssh-keygen is not installed');
  return undefined;
}

/** sshd on 127.0.0.1:<free port> with a fresh ed25519 host key and the given sshd_config lines. */
export async function startSshd(config: readonly string[]): Promise<RunningServer> {
  const host = '127.0.0.1';
  const dir = mkdtempSync(path.join(tmpdir(), 'moat-sshd-'));
  const hostKey = path.join(dir, 'ssh_host_ed25519_key');
  const keygen = spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey], {
    encoding: 'utf8',
  });
  if (keygen.status !== 0) throw new Error(`ssh-keygen failed: ${keygen.stderr}`);
  const port = await freePort(host);
  const configFile = path.join(dir, 'sshd_config');
  writeFileSync(
    configFile,
    [
      `Port ${port}`,
      `ListenAddress ${host}`,
      `HostKey ${hostKey}`,
      `PidFile ${path.join(dir, 'sshd.pid')}`,
      'UsePAM no',
      ...config,
      '',
    ].join('\n'),
  );
  const server = launch(SSHD, ['-D', '-e', '-f', configFile], () =>
    rmSync(dir, { recursive: true, force: true }),
  );
  if (!(await waitForPort(host, port, server.child))) {
    await server.stop();
    throw new Error(`sshd did not start:\n${server.log()}`);
  }
  return { host, port, log: server.log, stop: server.stop };
}
