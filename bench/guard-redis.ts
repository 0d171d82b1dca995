/**
 * What the Redis watchdog costs Redis: `redis-benchmark` throughput against our own redis-server
 * (a free loopback port, never the shared 6379) with and without a real `moat guard` process
 * polling it every 2 s, in alternating rounds of one run. Target: less than 1 % difference.
 *
 * Each round runs the benchmark once without the guard and once with it (the order alternates
 * between rounds, so drift on a shared machine does not favour one side). With the guard, the
 * polls that happened during the run are counted from Redis's own INFO commandstats (CLIENT LIST
 * is only sent by the guard), and the server time one poll costs is read from the same stats.
 *
 *   node_modules/.bin/node bench/guard-redis.ts [--rounds 5] [--requests 400000] [--clients 50] [--interval 2s]
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { redisServerMissing, startRedisServer } from '../test/helpers/redis-server.ts';
import { median } from './lib/stats.ts';

const run = promisify(execFile);
const top = path.join(import.meta.dirname, '..');
const flag = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : (process.argv[i + 1] ?? fallback);
};
const ROUNDS = Number(flag('rounds', '5'));
const REQUESTS = Number(flag('requests', '400000'));
const CLIENTS = Number(flag('clients', '50'));
const INTERVAL = flag('interval', '2s');
const TESTS = ['SET', 'GET'] as const;
const STATE_DIR = mkdtempSync(path.join(tmpdir(), 'moat-bench-guard-'));

const missing = redisServerMissing();
if (missing !== undefined) {
  process.stderr.write(`${missing}\n`);
  process.exit(2);
}

const redis = await startRedisServer({ args: ['--protected-mode', 'yes'] });

async function redisCli(...args: string[]): Promise<string> {
  const { stdout } = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(redis.port), ...args]);
  return stdout;
}

/** calls and usec of a command from INFO commandstats. */
async function commandStats(): Promise<Map<string, { calls: number; usec: number }>> {
  const stats = new Map<string, { calls: number; usec: number }>();
  for (const line of (await redisCli('INFO', 'commandstats')).split('\n')) {
    const match = /^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/.exec(line.trim());
    if (match) stats.set(match[1] as string, { calls: Number(match[2]), usec: Number(match[3]) });
  }
  return stats;
}

/** requests per second per test, from redis-benchmark's CSV. */
async function benchmark(): Promise<Record<(typeof TESTS)[number], number>> {
  const { stdout } = await run(
    'redis-benchmark',
    [
      '-h',
      '127.0.0.1',
      '-p',
      String(redis.port),
      '-t',
      TESTS.join(',').toLowerCase(),
      '-n',
      String(REQUESTS),
      '-c',
      String(CLIENTS),
      '--csv',
    ],
    { maxBuffer: 1 << 20 },
  );
  const out: Partial<Record<(typeof TESTS)[number], number>> = {};
  for (const line of stdout.split('\n')) {
    const cells = line.split(',').map((c) => c.replace(/"/g, ''));
    const test = cells[0] as (typeof TESTS)[number];
    if (TESTS.includes(test)) out[test] = Number(cells[1]);
  }
  return out as Record<(typeof TESTS)[number], number>;
}

async function startGuard(): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    [
      path.join(top, 'bin/moat.js'),
      '--config',
      '/dev/null',
      'guard',
      `redis://127.0.0.1:${redis.port}`,
      '--interval',
      INTERVAL,
      '--state-dir',
      STATE_DIR,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString()));
  for (let i = 0; i < 200 && !out.includes('"msg":"moat guard started"'); i++) await sleep(25);
  if (!out.includes('"msg":"moat guard started"')) throw new Error(`moat guard did not start:\n${out}`);
  return child;
}

async function stopGuard(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

const results = { without: [] as Record<string, number>[], with: [] as Record<string, number>[] };
const polls: number[] = [];
let seconds = 0;
process.stdout.write(
  `redis-server ${(await redisCli('INFO', 'server')).match(/redis_version:(\S+)/)?.[1]} on 127.0.0.1:${redis.port}; ` +
    `redis-benchmark -t set,get -n ${REQUESTS} -c ${CLIENTS}; guard interval ${INTERVAL}; ${ROUNDS} rounds\n`,
);
try {
  await benchmark(); // warm-up, not counted
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? (['without', 'with'] as const) : (['with', 'without'] as const);
    for (const mode of order) {
      if (mode === 'without') {
        const r = await benchmark();
        results.without.push(r);
        process.stdout.write(
          `round ${round + 1} without guard: ${TESTS.map((t) => `${t} ${r[t].toFixed(0)}/s`).join(', ')}\n`,
        );
        continue;
      }
      const guard = await startGuard();
      const before = (await commandStats()).get('client|list')?.calls ?? 0;
      const started = performance.now();
      const r = await benchmark();
      seconds += (performance.now() - started) / 1000;
      const after = (await commandStats()).get('client|list')?.calls ?? 0;
      await stopGuard(guard);
      results.with.push(r);
      polls.push(after - before);
      process.stdout.write(
        `round ${round + 1} with guard:    ${TESTS.map((t) => `${t} ${r[t].toFixed(0)}/s`).join(', ')} (${after - before} polls during the run)\n`,
      );
    }
  }
  process.stdout.write(
    '\nmedian requests/s     without      with   difference   median of per-round differences\n',
  );
  for (const test of TESTS) {
    const a = median(results.without.map((r) => r[test] as number));
    const b = median(results.with.map((r) => r[test] as number));
    // Rounds pair a run with and a run without, back to back: their ratio cancels slow drift.
    const paired = median(
      results.with.map((r, i) => ((r[test] as number) / (results.without[i]?.[test] as number) - 1) * 100),
    );
    process.stdout.write(
      `${test.padEnd(16)} ${a.toFixed(0).padStart(12)} ${b.toFixed(0).padStart(9)}   ${(((b - a) / a) * 100).toFixed(2).padStart(7)} %   ${paired.toFixed(2).padStart(7)} %\n`,
    );
  }
  const totalPolls = polls.reduce((s, n) => s + n, 0);
  process.stdout.write(`polls during the guarded runs: ${totalPolls} in ${seconds.toFixed(1)} s\n`);

  // Server time of one poll: the guard alone, its start-up reads excluded, from fresh command stats.
  const intervalMs = Number.parseFloat(INTERVAL) * (INTERVAL.endsWith('ms') ? 1 : 1000);
  const guard = await startGuard();
  await sleep(intervalMs);
  await redisCli('CONFIG', 'RESETSTAT');
  await sleep(10 * intervalMs);
  const stats = await commandStats();
  await stopGuard(guard);
  stats.delete('config|resetstat');
  const pollsSeen = stats.get('client|list')?.calls ?? 0;
  const usec = [...stats.values()].reduce((sum, s) => sum + s.usec, 0);
  if (pollsSeen > 0) {
    const perPoll = usec / pollsSeen;
    process.stdout.write(
      `server time per poll (INFO ×4, CONFIG GET ×2, CLIENT ID, CLIENT LIST): ${perPoll.toFixed(0)} µs over ${pollsSeen} polls` +
        ` = ${((perPoll / 1000 / intervalMs) * 100).toFixed(4)} % of Redis's one command thread at one poll per ${INTERVAL}\n`,
    );
  }
} finally {
  await redis.stop();
}
