/**
 * Starts a real `redis-server` on a free loopback port for a test, waits until it answers, stops it.
 *
 *   const redis = await startRedisServer({ args: ['--requirepass', 'secret'] });
 *   try { … redis.port … } finally { await redis.stop(); }
 *
 * The server binds loopback only, keeps no data on disk (`--save ''`, no AOF, a temp `dir`) and logs
 * to a string you can read with `log()`. `redisServerMissing()` gives a skip reason when the binary
 * is absent (.ci/run installs it).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { unlessInCi } from './requirement.ts';

export interface RedisServer {
  /** The loopback address it binds (the first of `bind`). */
  readonly host: string;
  readonly port: number;
  readonly pid: number;
  /** Everything the server printed so far. */
  log(): string;
  stop(): Promise<void>;
}

export interface StartRedisOptions {
  /** Extra redis-server arguments, e.g. `['--requirepass', 'pw']`, `['--replicaof', '127.0.0.1 1']`. */
  readonly args?: readonly string[];
  /** Loopback addresses to bind (default `127.0.0.1`). Anything not loopback is refused. */
  readonly bind?: readonly string[];
  /** How long to wait for the first reply (default 5000 ms). */
  readonly readyTimeoutMs?: number;
  /** The binary (default `redis-server` on PATH). */
  readonly binary?: string;
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** Undefined when redis-server can run here, else why not (for `test(…, { skip })`). */
export function redisServerMissing(binary = 'redis-server'): string | undefined {
  const probe = spawnSync(binary, ['--version'], { encoding: 'utf8' });
  return unlessInCi(probe.status === 0 ? undefined : `${binary} is not installed (.ci/run installs it)`);
}

/** A TCP port that was free on `host` a moment ago. */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === 'object') resolve(address.port);
        else reject(new Error('no port'));
      });
    });
  });
}

export async function startRedisServer(options: StartRedisOptions = {}): Promise<RedisServer> {
  const bind = options.bind ?? ['127.0.0.1'];
  for (const address of bind) {
    if (!(address === '::1' || /^127\.\d+\.\d+\.\d+$/.test(address))) {
      throw new Error(`startRedisServer binds loopback only, not ${address}`);
    }
  }
  let lastError: unknown;
  // A free port can be taken between freePort() and the bind: try a few times.
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startOnce(bind, await freePort(bind[0]), options);
    } catch (error) {
      lastError = error;
    }
  }
  throw lastError;
}

async function startOnce(
  bind: readonly string[],
  port: number,
  options: StartRedisOptions,
): Promise<RedisServer> {
  const dir = mkdtempSync(path.join(tmpdir(), 'moat-redis-'));
  const args = [
    '--port',
    String(port),
    '--bind',
    bind.join(' '),
    '--save',
    '',
    '--appendonly',
    'no',
    '--daemonize',
    'no',
    '--dir',
    dir,
    '--logfile',
    '',
    ...(options.args ?? []),
  ];
  const child = spawn(options.binary ?? 'redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => {
      running.delete(child);
      rmSync(dir, { recursive: true, force: true });
      resolve();
    });
  });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    }
  };

  const deadline = Date.now() + (options.readyTimeoutMs ?? 5000);
  const host = bind[0]!;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) break;
    if (await answers(host, port)) {
      return { host, port, pid: child.pid ?? 0, log: () => output, stop };
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  await stop();
  throw new Error(`redis-server on ${host}:${port} did not answer:\n${output}`);
}

/** True once the server replies anything RESP to PING (+PONG, -NOAUTH…). */
function answers(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (value: boolean) => {
      socket.destroy();
      resolve(value);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('*1\r\n$4\r\nPING\r\n'));
    socket.once('data', (data: Buffer) => done(/^[+-]/.test(data.toString('latin1'))));
  });
}
